"""The console's hospital pages: schedules (the coming sessions, a CSV upload), waitlists, and
the check-in desk (enter or scan a booking's code, see the booking, check the patient in).

For hospital (provider) staff and city admins of the city; other staff of the city get the
403 page, anyone else's city is a 404. Everything goes through the appointments pillar's own
functions (`schedules.import_csv`, `waitlist.get_all`, `desk.find/check_in`) and is audited as
the API's routes are.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from cityhub.appointments import access, clinics, desk, family, schedules, views, waitlist
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.enums import BookingStatus
from cityhub.identity import residents
from cityhub.identity.deps import ProviderRefused, StaffCaller, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError, Conflict, NotFound
from cityhub.web.console.home import CSRF_FIELD, ConsoleStaff
from cityhub.web.console.pages import _city, _page
from cityhub.web.pages import PageError, redirect

if TYPE_CHECKING:
    from cityhub.appointments.models import Booking
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
DESK = (Role.CITY_ADMIN, Role.PROVIDER_STAFF)
SESSIONS_SHOWN = 200
MAX_CSV_BYTES = 2_000_000


async def _desk_city(session: AsyncSession, staff: StaffCaller, slug: str) -> City:
    """A city the staff member works in, as its hospital staff or admin."""
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *DESK)
    return city


async def _form(request: Request, staff: StaffCaller) -> Any:
    """The posted form, if it carries the session's CSRF token (else the 403 page)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    if not (isinstance(sent, str) and secrets.compare_digest(sent, staff.session.csrf_token)):
        raise PageError(403, "csrf_failed")
    return form


def _today(city: City) -> dt.date:
    return today_in(city.timezone)


async def _schedules_page(
    request: Request,
    session: AsyncSession,
    staff: StaffCaller,
    slug: str,
    *,
    status: int = 200,
    uploaded: Any = None,
    error: CityHubError | None = None,
) -> Response:
    city = await _desk_city(session, staff, slug)
    found = await clinics.search(
        session=session,
        city_id=city.id,
        service_ids=None,
        day_from=_today(city),
        limit=SESSIONS_SHOWN,
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    reads = [(v.service, v.read(city, rules)) for v in found]
    reads.sort(key=lambda r: (r[1].day, r[1].period.value, r[1].hospital, r[1].department))
    response = _page(
        request,
        staff,
        "console/hospitals.html",
        city,
        sessions=reads,
        uploaded=uploaded,
        error=error,
    )
    response.status_code = status
    return response


@router.get("/console/c/{slug}/hospitals", response_class=HTMLResponse)
async def hospital_schedules(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's coming sessions (places left, people waiting) and the schedule upload."""
    return await _schedules_page(request, session, staff, slug)


@router.post("/console/c/{slug}/hospitals/upload", response_class=HTMLResponse)
async def upload_schedules(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Sessions from a CSV file (the API's columns), all rows or none."""
    form = await _form(request, staff)
    city = await _desk_city(session, staff, slug)
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise PageError(400, "file_required")
    raw = await file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        raise PageError(413, "file_too_large")
    text = raw.decode("utf-8-sig", errors="replace")
    try:
        async with session.begin_nested():  # a refused file leaves nothing behind
            made = await schedules.import_csv(
                session=session, actor=staff.actor, city=city, text=text,
                guard=access.hospital_guard(staff, city.id),
            )  # fmt: skip
    except ProviderRefused:
        raise  # the 404 page, and the attempt on the audit log
    except CityHubError as exc:
        if exc.status >= 500:
            raise
        return await _schedules_page(request, session, staff, slug, status=422, error=exc)
    return await _schedules_page(request, session, staff, slug, uploaded=made)


@router.get("/console/c/{slug}/hospitals/waitlists", response_class=HTMLResponse)
async def waitlists(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Who waits for which full session, in line order, and the offers made."""
    city = await _desk_city(session, staff, slug)
    entries = await waitlist.get_all(session=session, city_id=city.id)
    by_session: dict[int, list[Any]] = {}
    for entry in entries:
        by_session.setdefault(entry.session_id, []).append(
            await views.waitlist_read(session=session, entry=entry)
        )
    groups = []
    for clinic_id, reads in by_session.items():
        clinic = await clinics.get_clinic(session=session, city_id=city.id, clinic_id=clinic_id)
        view = (await clinics.views(session=session, city_id=city.id, clinics=[clinic]))[0]
        groups.append((view, reads))
    return _page(request, staff, "console/waitlists.html", city, groups=groups)


async def _patient(session: AsyncSession, booking: Booking) -> str:
    """The patient's masked identity number (the desk compares it with the card)."""
    if booking.family_member_id is not None:
        member = await family.get(session=session, member_id=booking.family_member_id)
        return member.id_number_masked if member else ""
    resident = await residents.get(session=session, resident_id=booking.resident_id)
    return (resident.id_number_masked or "") if resident else ""


async def _desk_page(
    request: Request,
    session: AsyncSession,
    staff: StaffCaller,
    slug: str,
    code: str,
    *,
    status: int = 200,
    refused: str | None = None,
    done: bool = False,
) -> Response:
    city = await _desk_city(session, staff, slug)
    code = code.strip().upper()[:16]
    booking = read = patient = None
    if code:
        try:
            booking = await desk.find(session=session, city=city, code=code)
        except NotFound:
            refused, status = refused or "booking_not_found", 404 if status == 200 else status
    if booking is not None:
        await access.require_booking_provider(session=session, caller=staff, booking=booking)
        read = await views.booking_read(session=session, city=city, booking=booking)
        patient = await _patient(session, booking)
    response = _page(
        request,
        staff,
        "console/check_in.html",
        city,
        code=code,
        booking=read,
        patient=patient,
        today=booking is not None and booking.day == _today(city),
        can_check_in=booking is not None and booking.status == BookingStatus.BOOKED,
        refused=refused,
        done=done,
    )
    response.status_code = status
    return response


@router.get("/console/c/{slug}/check-in", response_class=HTMLResponse)
async def check_in_desk(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    code: Annotated[str, Query(max_length=40)] = "",
    done: Annotated[str, Query(max_length=1)] = "",
) -> Response:
    """The desk: a code typed in or read by a scanner (which types it), and its booking."""
    return await _desk_page(request, session, staff, slug, code, done=done == "1")


@router.post("/console/c/{slug}/check-in", response_class=HTMLResponse)
async def check_in(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Check the patient in (only on the booking's day, only once)."""
    form = await _form(request, staff)
    city = await _desk_city(session, staff, slug)
    code = str(form.get("code", "")).strip().upper()[:16]
    try:
        found: Booking | None = await desk.find(session=session, city=city, code=code)
    except NotFound:  # an unknown code is answered below
        found = None
    if found is not None:  # another hospital's booking: the 404 page, and audited
        await access.require_booking_provider(session=session, caller=staff, booking=found)
    try:
        async with session.begin_nested():
            await desk.check_in(session=session, actor=staff.actor, city=city, code=code)
    except (Conflict, NotFound) as exc:
        return await _desk_page(
            request, session, staff, slug, code, status=exc.status, refused=exc.code
        )
    return redirect(f"/console/c/{city.slug}/check-in?code={quote(code)}&done=1")
