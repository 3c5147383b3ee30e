"""Routes of a channel's self-service on its money in a city (its payments by its own
transaction id, its settlement batches and statements, refund requests), and the staff's
decisions on refund requests."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from cityhub.billing import channel_reads, refund_requests, settlement
from cityhub.billing import service as payments
from cityhub.billing.models import RefundRequest, RefundRequestStatus
from cityhub.billing.schemas import (
    BatchRead,
    PaymentRead,
    RefundDecision,
    RefundRequestCreate,
    RefundRequestRead,
    StatementRead,
)
from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.identity.deps import CurrentChannel, CurrentStaff, require_provider, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1/channel/cities/{city}", tags=["channel self-service"])
staff_router = APIRouter(prefix="/v1/cities/{city}", tags=["payments"])
SCOPE = "payments:write"
TxnId = Annotated[str, Path(min_length=1, max_length=80, description="the channel's own id")]
PaymentId = Annotated[str, Path(max_length=40, description="the payment's id, pay_...")]
RequestId = Annotated[str, Path(max_length=40, description="the request's id, rr_...")]
DayQuery = Annotated[dt.date | None, Query(description="only this day (the city's time)")]


@router.get(
    "/payments/by-channel-txn/{channel_txn_id}",
    response_model=PaymentRead,
    operation_id="getPaymentByChannelTxn",
    summary="Look a payment up by the channel's transaction id",
)
async def get_payment_by_txn(
    session: SessionDep, caller: CurrentChannel, city: CityDep, channel_txn_id: TxnId
) -> PaymentRead:
    """The channel's payment confirmed with this `channel_txn_id` (its wallet's id)."""
    caller.require(SCOPE)
    view = await channel_reads.get_view_by_txn_or_raise(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        channel_txn_id=channel_txn_id,
    )
    return view.read()


@router.get(
    "/settlements",
    response_model=Page[BatchRead],
    operation_id="listChannelSettlements",
    summary="List the channel's settlement batches",
)
async def list_settlements(
    session: SessionDep, caller: CurrentChannel, city: CityDep, page: PageDep, day: DayQuery = None
) -> Page[BatchRead]:
    """What the channel owes the hub (or is owed) per day in the city, newest first."""
    caller.require(SCOPE)
    rows = await channel_reads.batches(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        day=day,
        after=page.after,
        limit=page.limit,
    )
    names = {("channel", caller.channel.id): caller.channel.slug}
    items = [settlement.batch_read(b, names) for b in rows]
    return page.page(items, rows[-1].id if rows else None)


@router.get(
    "/statements",
    response_model=Page[StatementRead],
    operation_id="listChannelStatements",
    summary="List the statements the channel uploaded",
)
async def list_statements(
    session: SessionDep, caller: CurrentChannel, city: CityDep, page: PageDep, day: DayQuery = None
) -> Page[StatementRead]:
    """The channel's uploaded statements in the city, newest first (the newest of a day is the
    one reconciled)."""
    caller.require(SCOPE)
    rows = await channel_reads.statements(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        day=day,
        after=page.after,
        limit=page.limit,
    )
    items = [
        StatementRead(day=s.day, lines=len(s.lines.get("lines", [])), uploaded_at=s.uploaded_at)
        for s in rows
    ]
    return page.page(items, rows[-1].id if rows else None)


@router.post(
    "/payments/{payment_id}/refund-requests",
    status_code=201,
    response_model=RefundRequestRead,
    operation_id="requestRefund",
    summary="Ask for a refund of a payment",
)
async def request_refund(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    payment_id: PaymentId,
    request_in: RefundRequestCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Within the biller's terms (`refund_rule`, `refund_days`): refunded at once (`status:
    refunded`) or waiting for the city's staff or the biller (`pending`)."""
    caller.require(SCOPE)
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=payment_id, channel_id=caller.channel.id
    )
    row = await refund_requests.create(
        session=session, view=view, actor=caller.actor, request_in=request_in
    )
    return await idem.respond(201, refund_requests.read(row, payment_id))


@router.get(
    "/refund-requests",
    response_model=Page[RefundRequestRead],
    operation_id="listChannelRefundRequests",
    summary="List the channel's refund requests",
)
async def list_channel_requests(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    page: PageDep,
    status: RefundRequestStatus | None = None,
) -> Page[RefundRequestRead]:
    """The channel's refund requests in the city, newest first."""
    caller.require(SCOPE)
    rows = await refund_requests.get_all(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        status=status,
        after=page.after,
        limit=page.limit,
    )
    return await _page(session, city.id, page, rows)


async def _page(
    session: SessionDep, city_id: int, page: PageDep, rows: list[RefundRequest]
) -> Page[RefundRequestRead]:
    ids = await refund_requests.payment_ids(
        session=session, city_id=city_id, ids={r.payment_id for r in rows}
    )
    items = [refund_requests.read(r, ids[r.payment_id]) for r in rows]
    return page.page(items, rows[-1].id if rows else None)


@staff_router.get(
    "/refund-requests",
    response_model=Page[RefundRequestRead],
    operation_id="listRefundRequests",
    summary="List channels' refund requests",
)
async def list_requests(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    page: PageDep,
    status: RefundRequestStatus | None = None,
) -> Page[RefundRequestRead]:
    """The city's refund requests, newest first (city admin; provider staff their provider's)."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN, Role.PROVIDER_STAFF)
    providers = staff.providers_in(city.id)
    service_ids = None
    if providers is not None:
        service_ids = await cities.service_ids_of_providers(
            session=session, city_id=city.id, providers=providers
        )
    rows = await refund_requests.get_all(
        session=session,
        city_id=city.id,
        service_ids=None if service_ids is None else list(service_ids),
        status=status,
        after=page.after,
        limit=page.limit,
    )
    return await _page(session, city.id, page, rows)


@staff_router.post(
    "/refund-requests/{request_id}/decision",
    response_model=RefundRequestRead,
    operation_id="decideRefundRequest",
    summary="Approve or decline a refund request",
)
async def decide(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    request_id: RequestId,
    decision: RefundDecision,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Approve (the refund is made and the channel told) or decline a waiting request (city
    admin, or the biller's provider staff); once, audited."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN, Role.PROVIDER_STAFF)
    row = await refund_requests.get_or_raise(session=session, city_id=city.id, public_id=request_id)
    view = await payments.get_view_by_id(
        session=session, city_id=city.id, payment_id=row.payment_id
    )
    require_provider(
        staff, view.service, city_id=city.id, object_type="refund_request", object_id=request_id,
        code="refund_request_not_found",
    )  # fmt: skip
    row = await refund_requests.decide(
        session=session,
        row=row,
        view=view,
        actor=staff.actor,
        approve=decision.approve,
        note=decision.note,
    )
    return await idem.respond(200, refund_requests.read(row, view.payment.public_id))
