"""Bookings and waitlist entries as answers show them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import service, waitlist
from cityhub.appointments.models import (
    Booking,
    BookingStatus,
    ClinicSession,
    FamilyMember,
    WaitlistEntry,
)
from cityhub.appointments.schemas import BookingRead, FeeRead, WaitlistRead
from cityhub.billing import service as payments

if TYPE_CHECKING:
    from cityhub.appointments.flows import Booked
    from cityhub.billing.service import PaymentView
    from cityhub.cities.models import City

# A code to scan is shown only while it can be used.
SHOWS_CODE = (BookingStatus.BOOKED, BookingStatus.CHECKED_IN)


async def booking_read(*, session: AsyncSession, city: City, booking: Booking) -> BookingRead:
    """The API shape of a booking, with its fee's payment."""
    place = await service.place_of(session=session, booking=booking)
    fee = None
    if booking.payment_id is not None:
        fee = await payments.get_view_by_id(
            session=session, city_id=city.id, payment_id=booking.payment_id
        )
    member = None
    if booking.family_member_id is not None:
        member = await session.scalar(
            select(FamilyMember.public_id).where(FamilyMember.id == booking.family_member_id)
        )
    return read_of(city, booking, place, fee, member)


def booked_read(city: City, booked: Booked) -> BookingRead:
    """The answer to a booking just made, from what the booking already holds (no reads)."""
    return read_of(city, booked.booking, booked.place, booked.fee, booked.family_member)


def read_of(
    city: City,
    booking: Booking,
    place: service.Place,
    fee_view: PaymentView | None,
    member: str | None,
) -> BookingRead:
    """The API shape of a booking from its parts."""
    fee = None
    if fee_view is not None:
        p = fee_view.payment
        fee = FeeRead(
            payment=p.public_id,
            total_fen=p.total_fen,
            currency=p.currency,
            status=payments.effective_status(p).value,
            expires_at=p.quote_expires_at,
        )
    shows = booking.status in SHOWS_CODE
    return BookingRead(
        id=booking.public_id,
        city=city.slug,
        status=booking.status,
        user_id=booking.user_id,
        family_member=member,
        hospital=place.service.code,
        hospital_name=place.service.name_en,
        department=place.department.code,
        department_name=place.department.name,
        department_names=place.department.names,
        practitioner=place.doctor.code,
        practitioner_name=place.doctor.name,
        session=place.clinic.public_id,
        slot=place.slot.public_id,
        start=place.slot.starts_at,
        end=place.slot.ends_at,
        hold_expires_at=booking.hold_expires_at,
        fee=fee,
        checkin_code=booking.checkin_code if shows else None,
        checkin_url=(
            f"/v1/cities/{city.slug}/appointments/bookings/{booking.public_id}/qr.svg"
            if shows
            else None
        ),
        created_at=booking.created_at,
        cancelled_at=booking.cancelled_at,
        checked_in_at=booking.checked_in_at,
    )


async def waitlist_read(*, session: AsyncSession, entry: WaitlistEntry) -> WaitlistRead:
    """The API shape of a waitlist entry, with its place in line or its offer."""
    clinic = await session.get(ClinicSession, entry.session_id)
    assert clinic is not None
    offer = None
    if entry.booking_id is not None:
        offer = await session.scalar(
            select(Booking.public_id).where(Booking.id == entry.booking_id)
        )
    return WaitlistRead(
        id=entry.public_id,
        session=clinic.public_id,
        user_id=entry.user_id,
        status=entry.status,
        position=await waitlist.waitlist_position(session=session, entry=entry),
        offer=offer,
    )
