"""Routes of complaints: a channel files and follows its own; the biller's provider staff or
the city's admins read and resolve them (provider staff only their provider's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.complaints import decisions, service
from cityhub.complaints.models import Complaint, ComplaintStatus
from cityhub.complaints.schemas import ComplaintCreate, ComplaintDecision, ComplaintRead
from cityhub.identity.deps import (
    Caller,
    ChannelCaller,
    CurrentCaller,
    CurrentChannel,
    CurrentStaff,
    LiveWritesOnly,
    StaffCaller,
    require_provider,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

router = APIRouter(
    prefix="/v1/cities/{city}/complaints", tags=["complaints"], dependencies=[LiveWritesOnly]
)
SCOPE = "payments:write"
ComplaintId = Annotated[str, Path(max_length=40, description="the complaint's id, cmp_...")]


@router.post(
    "",
    status_code=201,
    response_model=ComplaintRead,
    operation_id="createComplaint",
    summary="Complain about a payment or a service",
)
async def create_complaint(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    complaint_in: ComplaintCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """About one of the channel's payments (`debited_not_credited`, `paid_twice`,
    `wrong_amount`) or a granted service (`service`). A `paid_twice` the ledger proves is
    resolved at once (the second payment refunded); the rest are assigned to the biller."""
    caller.require(SCOPE)
    row = await service.create(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        actor=caller.actor,
        complaint_in=complaint_in,
    )
    return await idem.respond(
        201, await service.read(session=session, city_slug=city.slug, row=row)
    )


STAFF_ROLES = (Role.CITY_ADMIN, Role.AUDITOR, Role.PROVIDER_STAFF)


async def _service_ids(session: SessionDep, caller: StaffCaller, city_id: int) -> list[int] | None:
    """The services whose complaints the staff member sees (None: every one)."""
    require_staff_role(caller, city_id, *STAFF_ROLES)
    providers = caller.providers_in(city_id)
    if providers is None:
        return None
    found = await cities.service_ids_of_providers(
        session=session, city_id=city_id, providers=providers
    )
    return list(found)


@router.get(
    "",
    response_model=Page[ComplaintRead],
    operation_id="listComplaints",
    summary="List complaints",
)
async def list_complaints(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    status: ComplaintStatus | None = None,
) -> Page[ComplaintRead]:
    """Complaints in the city, newest first: a channel sees its own; a city admin or auditor
    every one, the biller's provider staff their provider's."""
    channel_id, service_ids = None, None
    if isinstance(caller, ChannelCaller):
        caller.require(SCOPE)
        channel_id = caller.channel.id
    else:
        assert isinstance(caller, StaffCaller)
        service_ids = await _service_ids(session, caller, city.id)
    rows = await service.get_all(
        session=session,
        city_id=city.id,
        channel_id=channel_id,
        service_ids=service_ids,
        status=status,
        after=page.after,
        limit=page.limit,
    )
    items = [await service.read(session=session, city_slug=city.slug, row=r) for r in rows]
    return page.page(items, rows[-1].id if rows else None)


async def _visible(session: SessionDep, caller: Caller, city_id: int, public_id: str) -> Complaint:
    """The complaint, if the caller may see it (else NotFound, as if there were none)."""
    if isinstance(caller, ChannelCaller):
        caller.require(SCOPE)
        return await service.get_or_raise(
            session=session, city_id=city_id, public_id=public_id, channel_id=caller.channel.id
        )
    assert isinstance(caller, StaffCaller)
    require_staff_role(caller, city_id, *STAFF_ROLES)
    row = await service.get_or_raise(session=session, city_id=city_id, public_id=public_id)
    biller = await cities.get_service(session=session, city_id=city_id, service_id=row.service_id)
    require_provider(
        caller, biller, city_id=city_id, object_type="complaint", object_id=public_id,
        code="complaint_not_found",
    )  # fmt: skip
    return row


@router.get(
    "/{complaint_id}",
    response_model=ComplaintRead,
    operation_id="getComplaint",
    summary="Read a complaint",
)
async def get_complaint(
    session: SessionDep, caller: CurrentCaller, city: CityDep, complaint_id: ComplaintId
) -> ComplaintRead:
    """The complaint with each change of its status."""
    row = await _visible(session, caller, city.id, complaint_id)
    return await service.read(session=session, city_slug=city.slug, row=row)


@router.post(
    "/{complaint_id}/decision",
    response_model=ComplaintRead,
    operation_id="resolveComplaint",
    summary="Resolve a complaint",
)
async def resolve_complaint(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    complaint_id: ComplaintId,
    decision: ComplaintDecision,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The biller's provider staff or a city admin resolve an assigned or escalated
    complaint, once; audited, and the channel is told."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN, Role.PROVIDER_STAFF)
    row = await _visible(session, staff, city.id, complaint_id)
    row = await decisions.resolve(
        session=session, row=row, actor=staff.actor, resolution=decision.resolution
    )
    return await idem.respond(
        200, await service.read(session=session, city_slug=city.slug, row=row)
    )
