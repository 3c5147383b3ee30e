"""Booking a hospital appointment on the portal: hospital, department, doctor, day, slot; for
oneself or a family member; the fee paid with the demo wallet; the booking with its check-in
QR code; cancelling; the waitlist of a full session; today's appointment on the home page.

The portal is the hub's own channel: it calls the functions the channel API's calls go through
(`appointments.service.book/cancel`, `waitlist.join_waitlist`, `family.add`, and billing's
`confirm` for the fee, as the bill pages do), for the signed-in resident's portal user id. The
rules (window, limits, places) are the pillar's; a refusal is shown on the page it came from.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import family, schedules, service, views, waitlist
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.enums import ACTIVE, BookingStatus
from cityhub.appointments.schemas import BookingRead, FamilyMemberCreate
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.platform.clock import today_in
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep, VaultDep
from cityhub.platform.errors import Conflict, Forbidden, NotFound
from cityhub.web import signin
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.bills import demo_wallet_pays
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    ATTENTION_SOURCES,
    PORTAL_NAV,
    SERVICE_PAGES,
    Attention,
    NavEntry,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
    verify_url,
)

if TYPE_CHECKING:
    from cityhub.appointments.models import Booking
    from cityhub.cities.models import City, Service

router = APIRouter(include_in_schema=False)
SESSIONS_SHOWN = 200  # a hospital's sessions of the coming days fit on one page
MY_BOOKINGS = 50
# The fee was paid and the hospital's payee side has not answered yet: the page refreshes.
FEE_IN_FLIGHT = {PaymentStatus.CONFIRMED}

SERVICE_PAGES["appointment"] = "/c/{slug}/book/{code}"
PORTAL_NAV.append(NavEntry("My appointments", "/appointments"))


def _today(city: City) -> dt.date:
    return today_in(city.timezone)


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


def _verified_or_redirect(request: Request, visitor: Visitor) -> Response | None:
    """Booking is real-name: an unverified resident verifies first and comes back."""
    if visitor.verified:
        return None
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(verify_url(back))


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
) -> Response:
    """A hospital's coming sessions, chosen by department and day: each shows its doctor, fee
    and places left, and leads to its slots."""
    city = await live_city_or_404(session, slug)
    unverified = _verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    hospital, _channel = await _hospital(session, city, code[:60])
    found = await schedules.search(
        session=session,
        city_id=city.id,
        service_ids={hospital.id},
        day_from=_today(city),
        limit=SESSIONS_SHOWN,
    )
    departments = sorted({(v.department.code, v.department.name) for v in found})
    days = sorted({v.clinic.day.isoformat() for v in found})
    chosen = [
        v
        for v in found
        if (not department or v.department.code == department)
        and (not day or v.clinic.day.isoformat() == day)
    ]
    chosen.sort(key=lambda v: (v.clinic.day, v.clinic.period.value, v.department.name))
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
        department=department,
        day=day,
        sessions=[v.read(city, rules) for v in chosen],
        now=utcnow(),
    )


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
    view = await schedules.get_view_or_raise(
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
        title=view.doctor.title,
        slots=future,
        not_open=now < read.opens_at,
        begun=not future,
        full=bool(future) and all(s.left == 0 for s in future),
        members=[(m.public_id, m.relation, m.id_number_masked) for m in members],
        refused=refused,
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
    unverified = _verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    return await _clinic_page(
        request, session, settings, visitor, visitor.user_id, slug, code, session_id
    )


def _refusal_status(exc: Conflict | Forbidden) -> int:
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
            booked = await service.book(
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
            status=_refusal_status(exc),
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
            status=_refusal_status(exc),
            refused=exc.code,
        )
    return redirect(f"/c/{city.slug}/appointments")


# -- the resident's bookings -----------------------------------------------------------------


async def _booking(session: AsyncSession, city: City, visitor: Visitor, booking_id: str) -> Booking:
    """The resident's own booking (anyone else's does not exist here)."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        booking = await service.get_or_raise(
            session=session, city_id=city.id, public_id=booking_id[:40], channel_id=channel.id
        )
    except NotFound:
        raise PageError(404, "booking_not_found") from None
    if booking.user_id != visitor.user_id:
        raise PageError(404, "booking_not_found")
    return booking


def qr_svg(code: str, label: str) -> str:
    """The check-in code as an inline SVG QR code (no request, no script: the CSP holds)."""
    return str(
        segno.make(code, error="m").svg_inline(scale=1, omitsize=True, title=label, svgclass="qr")
    )


async def _booking_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    slug: str,
    booking_id: str,
    *,
    status: int = 200,
    refused: str | None = None,
) -> Response:
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    read = await views.booking_read(session=session, city=city, booking=booking)
    fee_status = PaymentStatus(read.fee.status) if read.fee else None
    waiting = read.status == BookingStatus.HELD and fee_status in FEE_IN_FLIGHT
    hospital = await cities.get_service_or_raise(
        session=session, city_id=city.id, code=read.hospital
    )
    fragment = request.headers.get("HX-Request") == "true"
    return page(
        request,
        settings,
        "portal/_appointment.html" if fragment else "portal/appointment.html",
        status=status,
        visitor=visitor,
        city=city,
        service=hospital,
        booking=read,
        patient=await _patient_label(session, booking),
        fee_status=fee_status.value if fee_status else None,
        waiting=waiting,
        qr=qr_svg(read.checkin_code, read.checkin_code) if read.checkin_code else None,
        cancellable=read.status in ACTIVE or read.status == BookingStatus.OFFERED,
        refused=refused,
    )


async def _patient_label(session: AsyncSession, booking: Booking) -> str | None:
    """The family member's relation and masked identity number; None for the resident."""
    if booking.family_member_id is None:
        return None
    member = await family.get(session=session, member_id=booking.family_member_id)
    return f"{member.relation} · {member.id_number_masked}" if member else None


@router.get("/c/{slug}/appointments/{booking_id}", response_class=HTMLResponse)
async def booking_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """The booking: its fee to pay, or its check-in QR code; cancel it. While the fee's payment
    is being completed the page refreshes itself (HTMX)."""
    return await _booking_page(request, session, settings, visitor, slug, booking_id)


@router.post("/c/{slug}/appointments/{booking_id}/pay", response_class=HTMLResponse)
async def pay_fee(
    request: Request,
    session: SessionDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """The demo wallet pays the registration fee (as it pays a bill)."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    if booking.payment_id is None:
        raise PageError(409, "no_fee")
    view = await payments.get_view_by_id(
        session=session, city_id=city.id, payment_id=booking.payment_id
    )
    await demo_wallet_pays(session=session, city=city, view=view)
    return redirect(f"/c/{city.slug}/appointments/{booking.public_id}")


@router.post("/c/{slug}/appointments/{booking_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """Cancel before the city's cut-off (a paid fee is refunded); after it, the page says so."""
    await check_csrf(request)
    user_id = visitor.user_id
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    public_id = booking.public_id
    try:
        async with session.begin_nested():
            await service.cancel(
                session=session, city=city, booking=booking, by=f"portal:{user_id}"
            )
    except Conflict as exc:
        return await _booking_page(
            request, session, settings, visitor, slug, public_id, status=409, refused=exc.code
        )
    return redirect(f"/c/{city.slug}/appointments/{public_id}")


@router.post("/c/{slug}/appointments/{booking_id}/accept", response_class=HTMLResponse)
async def accept_offer(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """Take a place the waitlist offered (the patient's rules are checked now); with a fee
    the place is then held for it, as for any booking."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    public_id = booking.public_id
    try:
        async with session.begin_nested():
            await service.accept_offer(session=session, city=city, booking=booking)
    except (Conflict, Forbidden) as exc:
        return await _booking_page(
            request,
            session,
            settings,
            visitor,
            slug,
            public_id,
            status=_refusal_status(exc),
            refused=exc.code,
        )
    return redirect(f"/c/{city.slug}/appointments/{public_id}")


@router.get("/c/{slug}/appointments", response_class=HTMLResponse)
async def my_appointments(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """The resident's bookings in the city (newest first), their waitlist places, and the
    hospitals to book at."""
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    rows = await service.get_all(
        session=session,
        city_id=city.id,
        channel_id=channel.id,
        user_id=visitor.user_id,
        limit=MY_BOOKINGS,
    )
    bookings = [await views.booking_read(session=session, city=city, booking=b) for b in rows]
    entries = await waitlist.get_all(
        session=session, city_id=city.id, channel_id=channel.id, user_id=visitor.user_id
    )
    waiting = []
    for entry in entries:
        read = await views.waitlist_read(session=session, entry=entry)
        clinic = await schedules.get_view_or_raise(
            session=session, city_id=city.id, public_id=read.session
        )
        waiting.append((read, clinic))
    hospitals = [
        s
        for s in await cities.get_all_services(session=session, city_id=city.id, limit=1000)
        if s.kind == ServiceKind.APPOINTMENT and s.status == ServiceStatus.ACTIVE
    ]
    return page(
        request,
        settings,
        "portal/appointments.html",
        visitor=visitor,
        city=city,
        bookings=bookings,
        waiting=waiting,
        hospitals=hospitals,
    )


# -- family members --------------------------------------------------------------------------


async def _family_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    user_id: str,
    slug: str,
    *,
    status: int = 200,
    error: str | None = None,
    back: str = "",
) -> Response:
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    members = await family.get_all(session=session, channel_id=channel.id, user_id=user_id)
    return page(
        request,
        settings,
        "portal/family.html",
        status=status,
        visitor=visitor,
        city=city,
        members=[(m.relation, m.id_number_masked) for m in members],
        error=error,
        back=back,
    )


def _local_back(value: str | None) -> str:
    return value if value and value.startswith("/c/") and "//" not in value else ""


@router.get("/c/{slug}/family", response_class=HTMLResponse)
async def family_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    back: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """The family members the resident books for (masked), and a form to add one."""
    unverified = _verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    return await _family_page(
        request, session, settings, visitor, visitor.user_id, slug, back=_local_back(back)
    )


@router.post("/c/{slug}/family", response_class=HTMLResponse)
async def add_family_member(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """Add a family member (their identity number is checked like the resident's)."""
    form = await check_csrf(request)
    user_id = visitor.user_id
    back = _local_back(form.get("back"))
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        member_in = FamilyMemberCreate(
            name=form.get("name", "").strip(),
            id_number=form.get("id_number", ""),
            relation=form.get("relation", "").strip(),
        )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "name"
        return await _family_page(
            request,
            session,
            settings,
            visitor,
            user_id,
            slug,
            status=422,
            error=f"invalid_{field}",
            back=back,
        )
    try:
        async with session.begin_nested():
            await family.add(
                session=session,
                vault=vault,
                channel_id=channel.id,
                user_id=user_id,
                member_in=member_in,
            )
    except (Conflict, Forbidden) as exc:
        return await _family_page(
            request, session, settings, visitor, user_id, slug, status=409, error=exc.code
        )
    return redirect(back or f"/c/{slug}/family")


# -- today's appointment on the home page ----------------------------------------------------


async def _attention(session: AsyncSession, city: City, visitor: Visitor) -> list[Attention]:
    """The resident's appointments of today that still stand."""
    try:
        channel = await signin.get_portal_channel_or_raise(session=session)
    except NotFound:
        return []
    rows = await service.get_all(
        session=session,
        city_id=city.id,
        channel_id=channel.id,
        user_id=visitor.user_id,
        day=_today(city),
        statuses=ACTIVE,
    )
    found = []
    for booking in rows:
        read: BookingRead = await views.booking_read(session=session, city=city, booking=booking)
        found.append(
            Attention(
                kind="appointment",
                text=read.department_name,
                url=f"/c/{city.slug}/appointments/{read.id}",
                extra={"booking": read},
            )
        )
    return found


ATTENTION_SOURCES.append(_attention)
