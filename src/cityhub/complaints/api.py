"""Routes of complaints: a channel files and follows its own; the biller's provider staff or
the city's admins resolve them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.complaints import service
from cityhub.complaints.models import ComplaintStatus
from cityhub.complaints.schemas import ComplaintCreate, ComplaintDecision, ComplaintRead
from cityhub.identity.deps import CurrentChannel, CurrentStaff, require_provider, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1/cities/{city}/complaints", tags=["complaints"])
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


@router.get(
    "",
    response_model=Page[ComplaintRead],
    operation_id="listComplaints",
    summary="List the channel's complaints",
)
async def list_complaints(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    page: PageDep,
    status: ComplaintStatus | None = None,
) -> Page[ComplaintRead]:
    """The channel's complaints in the city, newest first."""
    caller.require(SCOPE)
    rows = await service.get_all(
        session=session,
        city_id=city.id,
        channel_id=caller.channel.id,
        status=status,
        after=page.after,
        limit=page.limit,
    )
    items = [await service.read(session=session, city_slug=city.slug, row=r) for r in rows]
    return page.page(items, rows[-1].id if rows else None)


@router.get(
    "/{complaint_id}",
    response_model=ComplaintRead,
    operation_id="getComplaint",
    summary="Read one of the channel's complaints",
)
async def get_complaint(
    session: SessionDep, caller: CurrentChannel, city: CityDep, complaint_id: ComplaintId
) -> ComplaintRead:
    """The complaint with each change of its status."""
    caller.require(SCOPE)
    row = await service.get_or_raise(
        session=session, city_id=city.id, public_id=complaint_id, channel_id=caller.channel.id
    )
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
    row = await service.get_or_raise(session=session, city_id=city.id, public_id=complaint_id)
    biller = await cities.get_service(session=session, city_id=city.id, service_id=row.service_id)
    require_provider(
        staff, biller, city_id=city.id, object_type="complaint", object_id=complaint_id,
        code="complaint_not_found",
    )  # fmt: skip
    row = await service.move(
        session=session,
        row=row,
        to=ComplaintStatus.RESOLVED,
        actor=staff.actor,
        note=decision.resolution,
        resolution=decision.resolution,
    )
    return await idem.respond(
        200, await service.read(session=session, city_slug=city.slug, row=row)
    )
