"""Routes of appointments under /v1: sessions to browse, bookings, the waitlist, family
members (channels); schedules, sync, rules, check-in (staff)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from cityhub.appointments import (
    access,
    clinics,
    desk,
    family,
    flows,
    schedules,
    service,
    sync,
    views,
    waitlist,
)
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import Booking, WaitlistEntry
from cityhub.appointments.schemas import (
    BookingCreate,
    BookingRead,
    CheckIn,
    CsvRead,
    FamilyMemberCreate,
    FamilyMemberRead,
    RulesIn,
    RulesRead,
    SessionCreate,
    SessionRead,
    SyncRead,
    WaitlistCreate,
    WaitlistRead,
)
from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity import audit
from cityhub.identity.deps import (
    Caller,
    ChannelCaller,
    CurrentCaller,
    CurrentChannel,
    CurrentStaff,
    VaultDep,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.qr import qr_svg
from cityhub.platform.uow import between_transactions

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["appointments"])
SCOPE = "appointments:write"
BASE = "/cities/{city}/appointments"
PublicId = Annotated[str, Path(max_length=40)]
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]
DESK = (Role.CITY_ADMIN, Role.PROVIDER_STAFF)


def _channel_id(caller: Caller) -> int | None:
    if isinstance(caller, ChannelCaller):
        caller.require(SCOPE)
        return caller.channel.id
    return None


async def _granted(session: SessionDep, caller: Caller, city: City) -> set[int] | None:
    """The hospital services the caller may see (None: staff, every one)."""
    if not isinstance(caller, ChannelCaller):
        return None
    granted = await cities.granted_services(
        session=session, channel_id=caller.channel.id, city_id=city.id
    )
    return set(granted)


# -- sessions --------------------------------------------------------------------------------


@router.get(BASE + "/sessions", response_model=Page[SessionRead])
async def list_sessions(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    hospital: Annotated[str | None, Query(max_length=60)] = None,
    department: Annotated[str | None, Query(max_length=80)] = None,
    day_from: Annotated[dt.date | None, Query(alias="from")] = None,
    day_to: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Page[SessionRead]:
    """Sessions of the hospitals the caller may see, with their slots and places left."""
    found = await clinics.search(
        session=session,
        city_id=city.id,
        service_ids=await _granted(session, caller, city),
        hospital=hospital,
        department=department,
        day_from=day_from,
        day_to=day_to,
        after=page.after,
        limit=page.limit,
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    return page.page([v.read(city, rules) for v in found], found[-1].clinic.id if found else None)


@router.get(BASE + "/sessions/{session_id}", response_model=SessionRead)
async def get_session(
    session: SessionDep, caller: CurrentCaller, city: CityDep, session_id: PublicId
) -> SessionRead:
    """One session."""
    view = await clinics.get_view_or_raise(session=session, city_id=city.id, public_id=session_id)
    granted = await _granted(session, caller, city)
    if granted is not None and view.service.id not in granted:
        raise NotFound(f"no session {session_id!r}", code="session_not_found")
    return view.read(city, await booking_rules.get(session=session, city_id=city.id))


@router.post(BASE + "/sessions", status_code=201, response_model=SessionRead)
async def create_session(
    session: SessionDep,
    caller: CurrentStaff,
    city: CityDep,
    session_in: SessionCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Enter a doctor's session and its slots (hospital staff or a city admin)."""
    require_staff_role(caller, city.id, *DESK)
    clinic = await schedules.create_session(
        session=session,
        city=city,
        session_in=session_in,
        guard=access.hospital_guard(caller, city.id),
    )
    await audit.append(
        session=session,
        city_id=city.id,
        actor=caller.actor,
        action="appointments.session.create",
        object_type="appointment",
        object_id=clinic.public_id,
        details={"service": session_in.service, "day": str(session_in.day)},
    )
    view = await clinics.get_view_or_raise(
        session=session, city_id=city.id, public_id=clinic.public_id
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    return await idem.respond(201, view.read(city, rules))


@router.post(
    BASE + "/sessions.csv",
    status_code=201,
    response_model=CsvRead,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def upload_sessions(
    request: Request, session: SessionDep, caller: CurrentStaff, city: CityDep
) -> CsvRead:
    """Sessions from a CSV, one row per slot (columns: see docs/appointments.md); all rows or
    none."""
    require_staff_role(caller, city.id, *DESK)
    text = (await request.body()).decode("utf-8-sig", errors="replace")
    return await schedules.import_csv(
        session=session,
        actor=caller.actor,
        city=city,
        text=text,
        guard=access.hospital_guard(caller, city.id),
    )


@router.post(BASE + "/sync", response_model=SyncRead)
async def sync_hospital(
    session: SessionDep,
    hub: HubDep,
    caller: CurrentStaff,
    city: CityDep,
    hospital: Annotated[str, Query(max_length=60, description="the hospital's service code")],
    days: Annotated[int, Query(ge=1, le=31)] = 7,
) -> SyncRead:
    """Sync a hospital's sessions from its own system now."""
    require_staff_role(caller, city.id, *DESK)
    found = await schedules.hospital_or_raise(session=session, city_id=city.id, code=hospital)
    access.hospital_guard(caller, city.id)(found)
    connector = await hub.hospital(session=session, service=found)
    today = today_in(city.timezone)
    async with between_transactions(session):
        fetched = await sync.fetch(connector, start=today, days=days + 1)
    result = await sync.apply(session=session, city=city, service=found, fetched=fetched)
    await audit.append(
        session=session,
        city_id=city.id,
        actor=caller.actor,
        action="appointments.sync",
        object_type="appointment",
        object_id=hospital,
        details=result.model_dump(),
    )
    return result


# -- rules -----------------------------------------------------------------------------------


@router.get(BASE + "/rules", response_model=RulesRead)
async def get_rules(session: SessionDep, caller: CurrentCaller, city: CityDep) -> RulesRead:
    """The city's booking rules."""
    return await booking_rules.get(session=session, city_id=city.id)


@router.patch(BASE + "/rules", response_model=RulesRead)
async def change_rules(
    session: SessionDep, caller: CurrentStaff, city: CityDep, rules_in: RulesIn
) -> RulesRead:
    """Change the city's booking rules (city admins)."""
    require_staff_role(caller, city.id, Role.CITY_ADMIN)
    changed = await booking_rules.update(session=session, city_id=city.id, rules_in=rules_in)
    await audit.append(
        session=session,
        city_id=city.id,
        actor=caller.actor,
        action="appointments.rules.update",
        object_type="appointment",
        object_id=city.slug,
        details=rules_in.model_dump(mode="json", exclude_unset=True),
    )
    return changed


# -- bookings --------------------------------------------------------------------------------


@router.post(BASE + "/bookings", status_code=201, response_model=BookingRead)
async def create_booking(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    booking_in: BookingCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Book a slot for the user or their family member. With a fee, the answer's `fee.payment`
    is a payment to confirm (`POST .../payments/{id}/confirmation`) before `hold_expires_at`."""
    caller.require(SCOPE)
    booked = await flows.book(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        user_id=booking_in.user_id,
        slot_public_id=booking_in.slot,
        family_member=booking_in.family_member,
    )
    return await idem.respond(201, views.booked_read(city, booked))


@router.get(BASE + "/bookings", response_model=Page[BookingRead])
async def list_bookings(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    day: dt.date | None = None,
) -> Page[BookingRead]:
    """Bookings, newest first: a channel sees its own (of one user when given), staff their
    city's."""
    rows = await service.get_all(
        session=session,
        city_id=city.id,
        channel_id=_channel_id(caller),
        user_id=user_id,
        day=day,
        after=page.after,
        limit=page.limit,
    )
    items = [await views.booking_read(session=session, city=city, booking=b) for b in rows]
    return page.page(items, rows[-1].id if rows else None)


async def _booking(session: SessionDep, caller: Caller, city: City, booking_id: str) -> Booking:
    booking = await service.get_or_raise(
        session=session, city_id=city.id, public_id=booking_id, channel_id=_channel_id(caller)
    )
    await access.require_booking_provider(session=session, caller=caller, booking=booking)
    return booking


@router.get(BASE + "/bookings/{booking_id}", response_model=BookingRead)
async def get_booking(
    session: SessionDep, caller: CurrentCaller, city: CityDep, booking_id: PublicId
) -> BookingRead:
    """One booking (another channel's bookings do not exist here)."""
    booking = await _booking(session, caller, city, booking_id)
    return await views.booking_read(session=session, city=city, booking=booking)


@router.get(BASE + "/bookings/{booking_id}/qr.svg", response_class=Response)
async def booking_qr(
    session: SessionDep, caller: CurrentCaller, city: CityDep, booking_id: PublicId
) -> Response:
    """The check-in code as a QR code (SVG) for the patient to show at the desk."""
    booking = await _booking(session, caller, city, booking_id)
    if booking.status not in views.SHOWS_CODE:
        raise NotFound("this booking has no code to show", code="no_checkin_code")
    svg = qr_svg(booking.checkin_code, scale=6, inline=False)
    return Response(svg, media_type="image/svg+xml")


@router.post(BASE + "/bookings/{booking_id}/cancellation", response_model=BookingRead)
async def cancel_booking(
    session: SessionDep, caller: CurrentCaller, city: CityDep, booking_id: PublicId
) -> BookingRead:
    """Cancel before the city's cut-off; a paid fee is refunded, the place goes to the
    waitlist. Staff (the hospital) may cancel any booking of their city."""
    booking = await _booking(session, caller, city, booking_id)
    if not isinstance(caller, ChannelCaller):
        require_staff_role(caller, city.id, *DESK)
    name = caller.key
    booking = await flows.cancel(session=session, city=city, booking=booking, by=name)
    return await views.booking_read(session=session, city=city, booking=booking)


@router.post(BASE + "/bookings/{booking_id}/acceptance", response_model=BookingRead)
async def accept_offer(
    session: SessionDep, caller: CurrentChannel, city: CityDep, booking_id: PublicId
) -> BookingRead:
    """Take a place the waitlist offered (`status: offered`) before it passes on."""
    booking = await _booking(session, caller, city, booking_id)
    booking = await flows.accept_offer(session=session, city=city, booking=booking)
    return await views.booking_read(session=session, city=city, booking=booking)


@router.post(BASE + "/sessions/{session_id}/waitlist", status_code=201, response_model=WaitlistRead)
async def join_waitlist(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    session_id: PublicId,
    wait_in: WaitlistCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Wait for a place in a full session; a freed place is offered to the first in line
    (webhook `appointment.offered`), who accepts it within the city's offer time."""
    caller.require(SCOPE)
    entry = await waitlist.join_waitlist(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        user_id=wait_in.user_id,
        session_public_id=session_id,
        family_member=wait_in.family_member,
    )
    return await idem.respond(201, await views.waitlist_read(session=session, entry=entry))


@router.get(BASE + "/waitlist/{entry_id}", response_model=WaitlistRead)
async def get_waitlist_entry(
    session: SessionDep, caller: CurrentChannel, city: CityDep, entry_id: PublicId
) -> WaitlistRead:
    """A place in a waitlist: the position, or the offer made."""
    caller.require(SCOPE)
    entry = await session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.city_id == city.id,
            WaitlistEntry.public_id == entry_id,
            WaitlistEntry.channel_id == caller.channel.id,
        )
    )
    if entry is None:
        raise NotFound(f"no waitlist entry {entry_id!r}", code="waitlist_entry_not_found")
    return await views.waitlist_read(session=session, entry=entry)


@router.post(BASE + "/check-ins", response_model=BookingRead)
async def check_in(
    session: SessionDep, caller: CurrentStaff, city: CityDep, check_in: CheckIn = Body()
) -> BookingRead:
    """The desk scanned a check-in code (hospital staff or a city admin)."""
    require_staff_role(caller, city.id, *DESK)
    found = await desk.find(session=session, city=city, code=check_in.code)
    await access.require_booking_provider(session=session, caller=caller, booking=found)
    booking = await desk.check_in(
        session=session, actor=caller.actor, city=city, code=check_in.code
    )
    return await views.booking_read(session=session, city=city, booking=booking)


# -- family members --------------------------------------------------------------------------


@router.post(
    "/residents/{user_id}/family-members",
    status_code=201,
    response_model=FamilyMemberRead,
    tags=["residents"],
)
async def add_family_member(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    member_in: FamilyMemberCreate,
) -> FamilyMemberRead:
    """Add a family member the user books for (their identity number is checked)."""
    caller.require(SCOPE)
    member = await family.add(
        session=session,
        vault=vault,
        channel_id=caller.channel.id,
        user_id=user_id,
        member_in=member_in,
    )
    return family.read(vault, member)


@router.get(
    "/residents/{user_id}/family-members",
    response_model=list[FamilyMemberRead],
    tags=["residents"],
)
async def list_family_members(
    session: SessionDep, vault: VaultDep, caller: CurrentChannel, user_id: UserId
) -> list[FamilyMemberRead]:
    """The user's family members (masked)."""
    caller.require(SCOPE)
    rows = await family.get_all(session=session, channel_id=caller.channel.id, user_id=user_id)
    return [family.read(vault, m) for m in rows]
