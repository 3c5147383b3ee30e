"""Routes of appointments under /v1: sessions to browse, bookings, the waitlist, family
members (channels); schedules, sync, rules, check-in (staff)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from cityhub.appointments import (
    access,
    clinics,
    desk,
    flows,
    schedules,
    service,
    sold_out,
    sync,
    views,
)
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.family_api import router as family_router
from cityhub.appointments.models import Booking
from cityhub.appointments.rules_api import router as rules_router
from cityhub.appointments.schemas import (
    SESSIONS_CSV_EXAMPLE,
    BookingCreate,
    BookingRead,
    CheckIn,
    CsvRead,
    SessionCreate,
    SessionRead,
    SyncRead,
)
from cityhub.appointments.waitlist_api import router as waitlist_router
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
    LiveWritesOnly,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Conflict, NotFound
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.idempotency_late import LateIdempotencyDep
from cityhub.platform.openapi import csv_body, route_meta
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.qr import qr_svg
from cityhub.platform.uow import between_transactions

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["appointments"], dependencies=[LiveWritesOnly])
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


@router.get(
    BASE + "/sessions",
    operation_id="listAppointmentSessions",
    summary="List appointment sessions",
    response_model=Page[SessionRead],
)
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


@router.get(
    BASE + "/sessions/{session_id}",
    operation_id="getAppointmentSession",
    summary="Get an appointment session",
    response_model=SessionRead,
)
async def get_session(
    session: SessionDep, caller: CurrentCaller, city: CityDep, session_id: PublicId
) -> SessionRead:
    """One session."""
    view = await clinics.get_view_or_raise(session=session, city_id=city.id, public_id=session_id)
    granted = await _granted(session, caller, city)
    if granted is not None and view.service.id not in granted:
        raise NotFound(f"no session {session_id!r}", code="session_not_found")
    return view.read(city, await booking_rules.get(session=session, city_id=city.id))


@router.post(
    BASE + "/sessions",
    operation_id="createAppointmentSession",
    summary="Enter a session and its slots",
    status_code=201,
    response_model=SessionRead,
)
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
    operation_id="uploadAppointmentSessions",
    summary="Enter sessions from CSV",
    status_code=201,
    response_model=CsvRead,
    openapi_extra=route_meta(
        requestBody=csv_body(
            "UTF-8 CSV, one row per slot (docs/appointments.md)", SESSIONS_CSV_EXAMPLE
        )
    ),
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


@router.post(
    BASE + "/sync",
    operation_id="syncHospital",
    summary="Sync a hospital's schedule",
    response_model=SyncRead,
)
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


# -- bookings --------------------------------------------------------------------------------


@router.post(
    BASE + "/bookings",
    operation_id="createBooking",
    summary="Book a slot",
    status_code=201,
    response_model=BookingRead,
)
async def create_booking(
    request: Request,
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    booking_in: BookingCreate,
    idem: LateIdempotencyDep,
) -> JSONResponse:
    """Book a slot for the user or their family member. With a fee, the answer's `fee.payment`
    is a payment to confirm (`POST .../payments/{id}/confirmation`) before `hold_expires_at`.
    The key is claimed with the answer: a sold-out attempt writes nothing."""
    caller.require(SCOPE)
    # This token's next attempts here on a full slot are answered before routing (`sold_out`).
    sold_out.remember(request, session, city_id=city.id, owner=idem.owner)
    try:
        booked = await flows.book(
            session=session,
            city=city,
            channel_id=caller.channel.id,
            user_id=booking_in.user_id,
            slot_public_id=booking_in.slot,
            family_member=booking_in.family_member,
            key=idem,
        )
    except Conflict as refused:
        if refused.code == "slot_full":  # the next attempts on it are tried before routing
            sold_out.seen_full(request, city_id=city.id, slot=booking_in.slot)
        raise
    return await idem.respond(201, views.booked_read(city, booked))


@router.get(
    BASE + "/bookings",
    operation_id="listBookings",
    summary="List bookings",
    response_model=Page[BookingRead],
)
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


@router.get(
    BASE + "/bookings/{booking_id}",
    operation_id="getBooking",
    summary="Get a booking",
    response_model=BookingRead,
)
async def get_booking(
    session: SessionDep, caller: CurrentCaller, city: CityDep, booking_id: PublicId
) -> BookingRead:
    """One booking (another channel's bookings do not exist here)."""
    booking = await _booking(session, caller, city, booking_id)
    return await views.booking_read(session=session, city=city, booking=booking)


@router.get(
    BASE + "/bookings/{booking_id}/qr.svg",
    operation_id="getBookingQrCode",
    summary="A booking's check-in QR code",
    response_class=Response,
)
async def booking_qr(
    session: SessionDep, caller: CurrentCaller, city: CityDep, booking_id: PublicId
) -> Response:
    """The check-in code as a QR code (SVG) for the patient to show at the desk."""
    booking = await _booking(session, caller, city, booking_id)
    if booking.status not in views.SHOWS_CODE:
        raise NotFound("this booking has no code to show", code="no_checkin_code")
    svg = qr_svg(booking.checkin_code, scale=6, inline=False)
    return Response(svg, media_type="image/svg+xml")


@router.post(
    BASE + "/bookings/{booking_id}/cancellation",
    operation_id="cancelBooking",
    summary="Cancel a booking",
    response_model=BookingRead,
)
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


@router.post(
    BASE + "/bookings/{booking_id}/acceptance",
    operation_id="acceptWaitlistOffer",
    summary="Take a waitlist offer",
    response_model=BookingRead,
)
async def accept_offer(
    session: SessionDep, caller: CurrentChannel, city: CityDep, booking_id: PublicId
) -> BookingRead:
    """Take a place the waitlist offered (`status: offered`) before it passes on."""
    booking = await _booking(session, caller, city, booking_id)
    booking = await flows.accept_offer(session=session, city=city, booking=booking)
    return await views.booking_read(session=session, city=city, booking=booking)


@router.post(
    BASE + "/check-ins",
    operation_id="checkIn",
    summary="Check a patient in",
    response_model=BookingRead,
)
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


router.include_router(rules_router)
router.include_router(family_router)
router.include_router(waitlist_router)
