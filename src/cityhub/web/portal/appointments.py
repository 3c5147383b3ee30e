"""Booking a hospital appointment on the portal: hospital, department, doctor, day, slot; for
oneself or a family member; the waitlist of a full session. The resident's bookings (the fee paid
with the demo wallet, the check-in QR code, cancelling, today's appointment on the home page) are
in `bookings`; their family members in `family`.

The portal is the hub's own channel: it calls the functions the channel API's calls go through
(`appointments.flows.book/cancel`, `waitlist.join_waitlist`, `family.add`, and billing's
`confirm` for the fee, as the bill pages do), for the signed-in resident's portal user id. The
rules (window, limits, places) are the pillar's; a refusal is shown on the page it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import clinics, family, flows, schedules, waitlist
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.enums import Period
from cityhub.cities import service as cities
from cityhub.platform import texts
from cityhub.platform.clock import today_in
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import Conflict, Forbidden, NotFound
from cityhub.web import signin
from cityhub.web.pages import PageError, language, redirect
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    PORTAL_NAV,
    SERVICE_PAGES,
    NavEntry,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
    verify_url,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

router = APIRouter(include_in_schema=False)
SESSIONS_SEARCHED = 200  # a hospital's sessions of the coming days, chosen from
SESSIONS_A_PAGE = 6  # a few at a time: a phone's screen or two
NEXT_FREE = 3  # a doctor's next sessions with a place, offered on a session's page
HALF_DAYS = list(Period)  # morning, afternoon, evening: the order of a day

SERVICE_PAGES["appointment"] = "/c/{slug}/book/{code}"
PORTAL_NAV.append(NavEntry("My appointments", "/appointments"))


async def _hospital(session: AsyncSession, city: City, code: str) -> tuple[Service, int]:
    """A hospital of the city that the portal may book (any other does not exist here), and
    the portal channel's id."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        hospital = await schedules.hospital_or_raise(session=session, city_id=city.id, code=code)
        await cities.require_service_granted(
            session=session, channel_id=channel.id, service=hospital
        )
    except (NotFound, Forbidden):
        raise PageError(404, "service_not_found") from None
    return hospital, channel.id


def verified_or_redirect(request: Request, visitor: Visitor) -> Response | None:
    """Booking is real-name: an unverified resident verifies first and comes back."""
    if visitor.verified:
        return None
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(verify_url(back))


@dataclass(frozen=True)
class Browse:
    """What the resident chose on a hospital's page: a department, a day, a doctor, a page."""

    department: str = ""
    day: str = ""
    doctor: str = ""
    number: int = 1

    def keeps(self, view: clinics.SessionView) -> bool:
        """Whether a session is among those chosen."""
        return (
            (not self.department or view.department.code == self.department)
            and (not self.day or view.clinic.day.isoformat() == self.day)
            and (not self.doctor or view.doctor.code == self.doctor)
        )

    def url(self, base: str, number: int) -> str:
        """The page `number` of the same choice."""
        chosen = {"department": self.department, "day": self.day, "doctor": self.doctor}
        query = urlencode({k: v for k, v in chosen.items() if v} | {"page": number})
        return f"{base}?{query}"


@router.get("/c/{slug}/book/{code}", response_class=HTMLResponse)
async def hospital_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    department: Annotated[str, Query(max_length=80)] = "",
    day: Annotated[str, Query(max_length=10)] = "",
    doctor: Annotated[str, Query(max_length=80)] = "",
    number: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1,
) -> Response:
    """A hospital's coming sessions, chosen by department, day or doctor, a few a page: each
    shows its doctor, registration fee and places left, and leads to its slots."""
    city = await live_city_or_404(session, slug)
    unverified = verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    hospital, _channel = await _hospital(session, city, code[:60])
    found = await clinics.search(
        session=session,
        city_id=city.id,
        service_ids={hospital.id},
        day_from=today_in(city.timezone),
        limit=SESSIONS_SEARCHED,
    )
    departments = sorted(
        {v.department.code: (v.department.code, v.department.name, v.department.names)
         for v in found}.values(), key=lambda d: d[0]
    )  # fmt: skip
    days = sorted({v.clinic.day.isoformat() for v in found})
    chosen = sorted(
        (v for v in found if Browse(department, day, doctor).keeps(v)),
        key=lambda v: (
            v.clinic.day,
            HALF_DAYS.index(v.clinic.period),
            v.department.name,
            v.doctor.name,
        ),
    )
    pages = max(1, -(-len(chosen) // SESSIONS_A_PAGE))
    number = min(number, pages)  # past the end: the last page
    browse = Browse(department, day, doctor, number)
    shown = chosen[(number - 1) * SESSIONS_A_PAGE : number * SESSIONS_A_PAGE]
    base = f"/c/{city.slug}/book/{hospital.code}"
    rules = await booking_rules.get(session=session, city_id=city.id)
    return page(
        request,
        settings,
        "portal/hospital.html",
        visitor=visitor,
        city=city,
        service=hospital,
        departments=departments,
        days=days,
        doctor_name=next((v.doctor.name for v in chosen if doctor), None),
        browse=browse,
        sessions=[v.read(city, rules) for v in shown],
        total=len(chosen),
        number=number,
        pages=pages,
        previous_url=browse.url(base, number - 1) if number > 1 else None,
        next_url=browse.url(base, number + 1) if number < pages else None,
        now=utcnow(),
    )


async def next_free(
    session: AsyncSession, city: City, rules: Any, view: clinics.SessionView
) -> list[Any]:
    """The doctor's next sessions with a place left, other than this one."""
    found = await clinics.search(
        session=session,
        city_id=city.id,
        service_ids={view.service.id},
        practitioner=view.doctor.code,
        day_from=today_in(city.timezone),
        limit=SESSIONS_SEARCHED,
    )
    now = utcnow()
    reads = [v.read(city, rules) for v in found if v.clinic.id != view.clinic.id]
    free = [
        r for r in reads if r.opens_at <= now and any(s.left and s.start > now for s in r.slots)
    ]
    free.sort(key=lambda r: (r.day, HALF_DAYS.index(r.period)))
    return free[:NEXT_FREE]


async def _clinic_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    user_id: str,
    slug: str,
    code: str,
    session_id: str,
    *,
    status: int = 200,
    refused: str | None = None,
) -> Response:
    """A session's slots to book, for whom, and (when every place is taken) its waitlist."""
    city = await live_city_or_404(session, slug)
    hospital, channel_id = await _hospital(session, city, code[:60])
    view = await clinics.get_view_or_raise(
        session=session, city_id=city.id, public_id=session_id[:40]
    )
    if view.service.id != hospital.id or not view.clinic.active:
        raise PageError(404, "session_not_found")
    rules = await booking_rules.get(session=session, city_id=city.id)
    read = view.read(city, rules)
    now = utcnow()
    members = await family.get_all(session=session, channel_id=channel_id, user_id=user_id)
    future = [s for s in read.slots if s.start > now]
    return page(
        request,
        settings,
        "portal/clinic.html",
        status=status,
        visitor=visitor,
        city=city,
        service=hospital,
        clinic=read,
        title=texts.pick(view.doctor.titles, language(request), view.doctor.title),
        slots=future,
        not_open=now < read.opens_at,
        begun=not future,
        full=bool(future) and all(s.left == 0 for s in future),
        members=[(m.public_id, m.relation, m.id_number_masked) for m in members],
        refused=refused,
        next_free=await next_free(session, city, rules, view),
    )


@router.get("/c/{slug}/book/{code}/{session_id}", response_class=HTMLResponse)
async def clinic_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    session_id: str,
) -> Response:
    """One session: its slots and places left; booking not yet open or full is said plainly."""
    unverified = verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    return await _clinic_page(
        request, session, settings, visitor, visitor.user_id, slug, code, session_id
    )


def refusal_status(exc: Conflict | Forbidden) -> int:
    """The status of a page that shows a refusal: 403 for a rule that forbids, 409 else."""
    return 403 if isinstance(exc, Forbidden) else 409


@router.post("/c/{slug}/book/{code}/{session_id}", response_class=HTMLResponse)
async def book(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    session_id: str,
) -> Response:
    """Book the chosen slot for the chosen patient; on to the booking (and its fee)."""
    form = await check_csrf(request)
    user_id = visitor.user_id
    city = await live_city_or_404(session, slug)
    _hospital_row, channel_id = await _hospital(session, city, code[:60])
    slot = form.get("slot", "")[:40]
    if not slot:
        raise PageError(400, "slot_required")
    try:
        async with session.begin_nested():  # a refused attempt leaves nothing behind
            booked = await flows.book(
                session=session,
                city=city,
                channel_id=channel_id,
                user_id=user_id,
                slot_public_id=slot,
                family_member=form.get("patient", "")[:40] or None,
            )
    except (Conflict, Forbidden) as exc:
        # The session's page says why, with what can be done.
        return await _clinic_page(
            request,
            session,
            settings,
            visitor,
            user_id,
            slug,
            code,
            session_id,
            status=refusal_status(exc),
            refused=exc.code,
        )
    return redirect(f"/c/{city.slug}/appointments/{booked.booking.public_id}")


@router.post("/c/{slug}/book/{code}/{session_id}/waitlist", response_class=HTMLResponse)
async def join_waitlist(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    session_id: str,
) -> Response:
    """Wait for a place in a full session; a freed place is offered on "my appointments"."""
    form = await check_csrf(request)
    user_id = visitor.user_id
    city = await live_city_or_404(session, slug)
    _hospital_row, channel_id = await _hospital(session, city, code[:60])
    try:
        async with session.begin_nested():
            await waitlist.join_waitlist(
                session=session,
                city=city,
                channel_id=channel_id,
                user_id=user_id,
                session_public_id=session_id[:40],
                family_member=form.get("patient", "")[:40] or None,
            )
    except (Conflict, Forbidden) as exc:
        return await _clinic_page(
            request,
            session,
            settings,
            visitor,
            user_id,
            slug,
            code,
            session_id,
            status=refusal_status(exc),
            refused=exc.code,
        )
    return redirect(f"/c/{city.slug}/appointments")
