"""What a booking tells others through the outbox: the reminder (the notices pillar renders
it), the hospital's own system (booked, cancelled), the channel (a signed webhook); and the
topics of the timers that let a hold or an offer go."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments.enums import BookingStatus
from cityhub.platform import texts
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.appointments.models import Booking, Department, Practitioner, Slot
    from cityhub.appointments.service import Place
    from cityhub.cities.models import City, Service

REMINDER = "appointment.reminder"
BOOK_AT_HOSPITAL = "appointments.book_at_hospital"
CANCEL_AT_HOSPITAL = "appointments.cancel_at_hospital"
OFFER_EXPIRY = "appointments.offer_expiry"
HOLD_EXPIRY = "appointments.hold_expiry"
# A hold is let go this long after it expired, so that a confirmation in flight at the deadline
# lands first (the quote is expired before the place is released, either way).
GRACE_SECONDS = 30
REMIND_AT = dt.time(18, 0)  # the evening before, in the city's time
REMIND_LATE_MIN = dt.timedelta(hours=2)


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
        # the names in the hub's languages: the reminder is read in the patient's
        "hospital_names": {
            "zh-Hans": service.name_zh_hans,
            "zh-Hant": service.name_zh_hant,
            "en": service.name_en,
        },
        "department_names": {
            lang: texts.pick(department.names, lang, department.name) for lang in texts.LANGUAGES
        },
        "practitioner": doctor.name,
    }


async def booked(*, session: AsyncSession, city: City, booking: Booking, place: Place) -> None:
    """A place became the patient's: queue the reminder and tell the hospital's system."""
    now = utcnow()
    at = reminder_at(place.slot.starts_at, city.timezone, now)
    if at is not None:
        payload = reminder_payload(
            city, booking, place.slot, place.service, place.department, place.doctor
        )
        await outbox.enqueue(
            session=session, topic=REMINDER, city_id=city.id, payload=payload, delay=at - now
        )
    if place.slot.external_id is not None:
        await outbox.enqueue(
            session=session,
            topic=BOOK_AT_HOSPITAL,
            city_id=city.id,
            payload={"booking_id": booking.id, "attempt": 1},
        )


async def cancelled(
    *, session: AsyncSession, city: City, booking: Booking, was: BookingStatus
) -> None:
    """A booking was cancelled: the hospital's system is told (once it was booked there, or
    when it may be)."""
    if booking.hospital_ref is not None or was == BookingStatus.BOOKED:
        await outbox.enqueue(
            session=session,
            topic=CANCEL_AT_HOSPITAL,
            city_id=city.id,
            payload={"booking_id": booking.id, "attempt": 1},
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
