"""What a booking asks of other domains: its fee as a billing payment (the hospital as payee),
the reminder for the notices pillar, telling the channel, and telling the hospital's system."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments.models import (
    Booking,
    BookingStatus,
    ClinicSession,
    Department,
    Practitioner,
    Slot,
)
from cityhub.billing import flows as payment_flows
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus, RefundSource
from cityhub.cities.models import Service
from cityhub.connectors import types
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.cities.models import City

if TYPE_CHECKING:
    from cityhub.appointments.service import Place

REMINDER = "appointment.reminder"
BOOK_AT_HOSPITAL = "appointments.book_at_hospital"
CANCEL_AT_HOSPITAL = "appointments.cancel_at_hospital"
# A hold is let go this long after it expired, so that a confirmation in flight at the deadline
# lands first (the quote is expired before the place is released, either way).
GRACE_SECONDS = 30
REMIND_AT = dt.time(18, 0)  # the evening before, in the city's time
REMIND_LATE_MIN = dt.timedelta(hours=2)


async def quote_fee(
    *, session: AsyncSession, city: City, place: Place, booking: Booking
) -> payments.PaymentView:
    """The registration fee as a billing payment quoted to the channel until the hold ends."""
    assert booking.hold_expires_at is not None
    charge = types.Bill(
        bill_id=booking.public_id,
        account=booking.public_id,
        period=place.clinic.day.isoformat(),
        amount_fen=place.clinic.fee_fen,
        currency=place.clinic.currency,
    )
    view = await payments.quote_charge(
        session=session,
        city=city,
        channel_id=booking.channel_id,
        service=place.service,
        charge=charge,
        user_id=booking.user_id,
        expires_at=booking.hold_expires_at,
    )
    return view


async def expire_fee(*, session: AsyncSession, city: City, payment_id: int) -> bool:
    """Make an unpaid fee unpayable; False when it was confirmed meanwhile."""
    return await payments.expire_quote(session=session, city_id=city.id, payment_id=payment_id)


def reminder_at(starts_at: dt.datetime, timezone: str, now: dt.datetime) -> dt.datetime | None:
    """When to remind: the evening before in the city's time; at once for a booking made
    later than that (unless the appointment is too near for a reminder to help)."""
    tz = ZoneInfo(timezone)
    local = starts_at.astimezone(tz)
    at = dt.datetime.combine(local.date() - dt.timedelta(days=1), REMIND_AT, tz)
    if at > now:
        return at
    return now if starts_at - now > REMIND_LATE_MIN else None


def reminder_payload(
    city: City,
    booking: Booking,
    slot: Slot,
    service: Service,
    department: Department,
    doctor: Practitioner,
) -> dict[str, Any]:
    """What the reminder of a booking says (the notices pillar renders it)."""
    return {
        "city": city.slug,
        "booking": booking.public_id,
        "resident_id": booking.resident_id,
        "starts_at": slot.starts_at.isoformat(),
        "hospital": service.name_en,
        "department": department.name,
        "practitioner": doctor.name,
    }


async def booked(
    *, session: AsyncSession, city: City, booking: Booking, place: Place | None = None
) -> None:
    """A place became the patient's: queue the reminder and tell the hospital's system."""
    if place is not None:
        slot, service, department, doctor = (
            place.slot,
            place.service,
            place.department,
            place.doctor,
        )
    else:
        row = (
            await session.execute(
                select(Slot, Service, Department, Practitioner)
                .join(ClinicSession, ClinicSession.id == Slot.session_id)
                .join(Service, Service.id == ClinicSession.service_id)
                .join(Department, Department.id == ClinicSession.department_id)
                .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
                .where(Slot.id == booking.slot_id)
            )
        ).one()
        slot, service, department, doctor = row
    now = utcnow()
    at = reminder_at(slot.starts_at, city.timezone, now)
    if at is not None:
        await outbox.enqueue(
            session=session,
            topic=REMINDER,
            city_id=city.id,
            payload=reminder_payload(city, booking, slot, service, department, doctor),
            delay=at - now,
        )
    if slot.external_id is not None:
        await outbox.enqueue(
            session=session,
            topic=BOOK_AT_HOSPITAL,
            city_id=city.id,
            payload={"booking_id": booking.id, "attempt": 1},
        )


async def cancelled(
    *, session: AsyncSession, city: City, booking: Booking, was: BookingStatus, by: str
) -> None:
    """A booking was cancelled: its fee stops being payable or is refunded, and the hospital's
    system is told."""
    if booking.payment_id is not None:
        if was == BookingStatus.HELD:
            # If the fee was confirmed meanwhile, its completion finds the booking cancelled
            # and refunds it (see `fee_paid`).
            await expire_fee(session=session, city=city, payment_id=booking.payment_id)
        else:
            await refund_fee(session=session, city=city, booking=booking, by=by)
    if booking.hospital_ref is not None or was == BookingStatus.BOOKED:
        await outbox.enqueue(
            session=session,
            topic=CANCEL_AT_HOSPITAL,
            city_id=city.id,
            payload={"booking_id": booking.id, "attempt": 1},
        )


async def refund_fee(*, session: AsyncSession, city: City, booking: Booking, by: str) -> None:
    """Give a paid fee back in full (the hospital's share and the hub's fee)."""
    assert booking.payment_id is not None
    view = await payments.get_view_by_id(
        session=session, city_id=city.id, payment_id=booking.payment_id
    )
    if view.payment.status != PaymentStatus.COMPLETED:
        return
    await payment_flows.refund(
        session=session,
        view=view,
        amount_fen=view.payment.amount_fen - view.payment.refunded_fen,
        currency=view.payment.currency,
        reason=f"booking {booking.public_id} cancelled",
        source=RefundSource.STAFF,
        requested_by=by,
    )


async def tell_channel(
    *, session: AsyncSession, city: City, booking: Booking, topic: str, **extra: Any
) -> None:
    """Queue a signed webhook about the booking to its channel."""
    payload = {
        "channel_id": booking.channel_id,
        "city": city.slug,
        "booking": booking.public_id,
        "user_id": booking.user_id,
        "status": booking.status.value,
        "expires_at": booking.hold_expires_at.isoformat() if booking.hold_expires_at else None,
        **extra,
    }
    await outbox.enqueue(session=session, topic=topic, city_id=city.id, payload=payload)
