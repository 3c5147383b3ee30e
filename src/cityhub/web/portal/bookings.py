"""The resident's hospital bookings on the portal: one booking with its fee (paid with the demo
wallet) or its check-in QR code, cancelling, an offer of the waitlist taken; all their bookings
and waitlist places; today's appointment on the home page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import clinics, family, flows, service, views, waitlist
from cityhub.appointments.enums import ACTIVE, BookingStatus
from cityhub.appointments.schemas import BookingRead
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import Conflict, Forbidden, NotFound
from cityhub.platform.qr import qr_svg
from cityhub.web import signin
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.appointments import refusal_status
from cityhub.web.portal.bills import demo_wallet_pays
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    ATTENTION_SOURCES,
    Attention,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

if TYPE_CHECKING:
    from cityhub.appointments.models import Booking
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
MY_BOOKINGS = 50
# The fee was paid and the hospital's payee side has not answered yet: the page refreshes.
FEE_IN_FLIGHT = {PaymentStatus.CONFIRMED}


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
        qr=qr_svg(read.checkin_code, title=read.checkin_code) if read.checkin_code else None,
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


async def _cancel_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    city: City,
    booking: Booking,
) -> Response:
    """The question before cancelling: what is cancelled, and what happens to a paid fee."""
    read = await views.booking_read(session=session, city=city, booking=booking)
    if not (read.status in ACTIVE or read.status == BookingStatus.OFFERED):
        return redirect(f"/c/{city.slug}/appointments/{read.id}")  # nothing left to cancel
    hospital = await cities.get_service_or_raise(
        session=session, city_id=city.id, code=read.hospital
    )
    fee_status = PaymentStatus(read.fee.status) if read.fee else None
    return page(
        request,
        settings,
        "portal/cancel.html",
        visitor=visitor,
        city=city,
        service=hospital,
        booking=read,
        patient=await _patient_label(session, booking),
        refund=fee_status == PaymentStatus.COMPLETED,
    )


@router.get("/c/{slug}/appointments/{booking_id}/cancel", response_class=HTMLResponse)
async def confirm_cancel(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """Ask before cancelling (a page and a form: it works without a script)."""
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    return await _cancel_page(request, session, settings, visitor, city, booking)


@router.post("/c/{slug}/appointments/{booking_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    booking_id: str,
) -> Response:
    """Cancel, once confirmed, before the city's cut-off (a paid fee is refunded); after it,
    the page says so. A form that did not confirm is asked the question first."""
    form = await check_csrf(request)
    user_id = visitor.user_id
    city = await live_city_or_404(session, slug)
    booking = await _booking(session, city, visitor, booking_id)
    if form.get("confirm") != "yes":
        return await _cancel_page(request, session, settings, visitor, city, booking)
    public_id = booking.public_id
    try:
        async with session.begin_nested():
            await flows.cancel(session=session, city=city, booking=booking, by=f"portal:{user_id}")
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
            await flows.accept_offer(session=session, city=city, booking=booking)
    except (Conflict, Forbidden) as exc:
        return await _booking_page(
            request,
            session,
            settings,
            visitor,
            slug,
            public_id,
            status=refusal_status(exc),
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
        clinic = await clinics.get_view_or_raise(
            session=session, city_id=city.id, public_id=read.session
        )
        waiting.append((read, clinic))
    hospitals = [
        s
        for s in await cities.get_all_services(
            session=session, city_id=city.id, kind=ServiceKind.APPOINTMENT, limit=1000
        )
        if s.status == ServiceStatus.ACTIVE
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
        day=today_in(city.timezone),
        statuses=ACTIVE,
    )
    found = []
    for booking in rows:
        read: BookingRead = await views.booking_read(session=session, city=city, booking=booking)
        found.append(
            Attention(
                kind="appointment",
                text=read.department_name,  # the page shows `extra.booking`'s translation
                url=f"/c/{city.slug}/appointments/{read.id}",
                extra={"booking": read},
            )
        )
    return found


ATTENTION_SOURCES.append(_attention)
