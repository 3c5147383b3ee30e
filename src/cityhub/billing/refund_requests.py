"""A channel asks for a refund of one of its payments, within the biller's terms.

The terms' `refund_rule` says who decides: `channel`, the refund is made at once (the
existing refund flow, `flows.refund`, as source `channel`); `staff`, the request waits for the
city's staff or the biller (provider staff), who approve (the same flow, as source `staff`) or
decline it; `none`, the biller takes no requests. Either way only `refund_days` days after the
payment completed. A decision is taken once (one conditional UPDATE), audited, and the channel
is told by webhook (`refund.succeeded`, or `refund_request.declined`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.billing import flows, terms
from cityhub.billing.models import (
    Payment,
    PaymentStatus,
    RefundRequest,
    RefundRequestStatus,
    RefundRule,
    RefundSource,
)
from cityhub.billing.schemas import RefundRequestCreate, RefundRequestRead
from cityhub.billing.service import PaymentView, new_id
from cityhub.identity import audit
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

DECLINED = "refund_request.declined"


def _check(view: PaymentView, t: terms.Terms, request_in: RefundRequestCreate) -> None:
    """Conflict or Unprocessable unless the terms let the channel ask for this refund now."""
    p = view.payment
    if t.refund_rule == RefundRule.NONE:
        raise Conflict("this biller takes no refund requests", code="refunds_not_accepted")
    if p.status != PaymentStatus.COMPLETED or p.completed_at is None:
        raise Conflict(
            f"only a completed payment can be refunded; this one is {p.status.value}",
            code="payment_not_refundable",
        )
    if utcnow() > p.completed_at + dt.timedelta(days=t.refund_days):
        raise Conflict(
            f"this biller takes refund requests for {t.refund_days} days after payment",
            code="refund_window_closed",
        )
    if request_in.currency != p.currency:
        raise Unprocessable(
            f"the payment is in {p.currency}", code="currency_mismatch", field="currency"
        )
    if request_in.amount_fen > p.amount_fen - p.refunded_fen:
        raise Unprocessable(
            f"at most {p.amount_fen - p.refunded_fen} of this payment is left to refund",
            code="refund_exceeds_payment",
            field="amount_fen",
        )


async def create(
    *,
    session: AsyncSession,
    view: PaymentView,
    actor: audit.Actor,
    request_in: RefundRequestCreate,
) -> RefundRequest:
    """The channel's request: refunded at once, or waiting, as the biller's terms say."""
    p = view.payment
    t = await terms.get(session=session, city_id=p.city_id, service_id=p.service_id)
    _check(view, t, request_in)
    row = RefundRequest(
        city_id=p.city_id,
        public_id=new_id("rr"),
        payment_id=p.id,
        channel_id=p.channel_id,
        amount_fen=request_in.amount_fen,
        currency=request_in.currency,
        reason=request_in.reason,
        status=RefundRequestStatus.PENDING,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    if t.refund_rule == RefundRule.CHANNEL:
        refund = await flows.refund(
            session=session,
            view=view,
            amount_fen=row.amount_fen,
            currency=row.currency,
            reason=row.reason,
            source=RefundSource.CHANNEL,
            requested_by=f"channel:{actor.id}",
        )
        _decided(row, RefundRequestStatus.REFUNDED, "biller terms", refund.public_id)
        await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="refund_request.create",
        object_type="refund_request",
        object_id=row.public_id,
        city_id=p.city_id,
        details={"payment": p.public_id, "amount_fen": row.amount_fen, "rule": t.refund_rule},
    )
    return row


def _decided(
    row: RefundRequest, status: RefundRequestStatus, by: str, refund_id: str | None = None
) -> None:
    row.status = status
    row.decided_by = by[:120]
    row.decided_at = utcnow()
    row.refund_public_id = refund_id


async def get_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None = None
) -> RefundRequest:
    """A city's refund request (the channel's own, when given), or NotFound."""
    query = select(RefundRequest).where(
        RefundRequest.city_id == city_id, RefundRequest.public_id == public_id
    )
    if channel_id is not None:
        query = query.where(RefundRequest.channel_id == channel_id)
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"no refund request {public_id!r}", code="refund_request_not_found")
    return row


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    service_ids: list[int] | None = None,
    status: RefundRequestStatus | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[RefundRequest]:
    """A city's refund requests, newest first (a channel's, of these services, of a status)."""
    query = (
        select(RefundRequest)
        .where(RefundRequest.city_id == city_id)
        .order_by(RefundRequest.id.desc())
        .limit(limit)
    )
    if channel_id is not None:
        query = query.where(RefundRequest.channel_id == channel_id)
    if service_ids is not None:
        of_services = select(Payment.id).where(
            Payment.city_id == city_id, Payment.service_id.in_(service_ids)
        )
        query = query.where(RefundRequest.payment_id.in_(of_services))
    if status is not None:
        query = query.where(RefundRequest.status == status)
    if after:
        query = query.where(RefundRequest.id < after)
    return list((await session.scalars(query)).all())


async def decide(
    *,
    session: AsyncSession,
    row: RefundRequest,
    view: PaymentView,
    actor: audit.Actor,
    approve: bool,
    note: str,
) -> RefundRequest:
    """Approve (the refund is made) or decline a waiting request, once."""
    claimed = await session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == row.id, RefundRequest.status == RefundRequestStatus.PENDING)
        .values(status=RefundRequestStatus.DECLINED)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this refund request was decided already", code="refund_request_decided")
    refund_id = None
    if approve:
        refund = await flows.refund(
            session=session,
            view=view,
            amount_fen=row.amount_fen,
            currency=row.currency,
            reason=row.reason,
            source=RefundSource.STAFF,
            requested_by=f"{actor.type}:{actor.id}",
        )
        refund_id = refund.public_id
    status = RefundRequestStatus.REFUNDED if approve else RefundRequestStatus.DECLINED
    _decided(row, status, f"{actor.type}:{actor.id}", refund_id)
    row.decision_note = note or None
    await session.flush()
    if not approve:
        answer = read(row, view.payment.public_id).model_dump(mode="json")
        await outbox.enqueue(
            session=session,
            topic=DECLINED,
            city_id=row.city_id,
            payload={"channel_id": row.channel_id, "refund_request": answer},
        )
    await audit.append(
        session=session,
        actor=actor,
        action="refund_request.decide",
        object_type="refund_request",
        object_id=row.public_id,
        city_id=row.city_id,
        details={"approve": approve, "payment": view.payment.public_id, "refund": refund_id},
    )
    return row


async def payment_ids(*, session: AsyncSession, city_id: int, ids: set[int]) -> dict[int, str]:
    """The public ids of these payments of the city, by row id."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Payment.id, Payment.public_id).where(Payment.city_id == city_id, Payment.id.in_(ids))
    )
    return {int(i): str(p) for i, p in rows.all()}


def read(row: RefundRequest, payment_public_id: str) -> RefundRequestRead:
    """The API shape of a refund request."""
    return RefundRequestRead(
        id=row.public_id,
        payment_id=payment_public_id,
        amount_fen=row.amount_fen,
        currency=row.currency,
        reason=row.reason,
        status=row.status,
        refund_id=row.refund_public_id,
        decision_note=row.decision_note,
        created_at=row.created_at,
        decided_at=row.decided_at,
    )
