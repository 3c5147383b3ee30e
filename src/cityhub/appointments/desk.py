"""The hospital's desk and the end of the day: check-in by code, no-shows and the blocks they
bring."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import Booking, BookingStatus, PatientStanding
from cityhub.appointments.service import changed_rows, release_patient
from cityhub.identity import audit
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def find(*, session: AsyncSession, city: City, code: str) -> Booking:
    """The booking of a check-in code in the city (what the desk sees before checking in)."""
    booking = await session.scalar(
        select(Booking).where(
            Booking.city_id == city.id, Booking.checkin_code == code.strip().upper()
        )
    )
    if booking is None or booking.status == BookingStatus.OFFERED:
        raise NotFound("no booking has this check-in code", code="booking_not_found", field="code")
    return booking


async def check_in(*, session: AsyncSession, actor: audit.Actor, city: City, code: str) -> Booking:
    """The desk scanned a booking's code: the patient is here (only on the booking's day, only
    once; audited). The API's and the console's check-in."""
    booking = await find(session=session, city=city, code=code)
    today = utcnow().astimezone(ZoneInfo(city.timezone)).date()
    if booking.day != today:
        raise Conflict(
            f"this booking is for {booking.day}, not today", code="wrong_day", field="code"
        )
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.BOOKED)
        .values(status=BookingStatus.CHECKED_IN, checked_in_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}; it cannot be checked in",
            code="not_checkable",
            status_now=booking.status.value,
        )
    await release_patient(session=session, city_id=city.id, patient_hash=booking.patient_hash)
    await session.refresh(booking)
    await audit.append(
        session=session,
        city_id=city.id,
        actor=actor,
        action="appointments.check_in",
        object_type="appointment",
        object_id=booking.public_id,
        details={},
    )
    return booking


async def mark_no_shows(*, session: AsyncSession, city: City, day: dt.date) -> tuple[int, int]:
    """At the end of `day` (or later), booked appointments of that day or before that were not
    checked in become no-shows; a patient who reaches the city's limit is blocked for its
    period. How many no-shows, and how many patients were blocked."""
    rules = await booking_rules.get(session=session, city_id=city.id)
    missed = list(
        (
            await session.scalars(
                select(Booking).where(
                    Booking.city_id == city.id,
                    Booking.day <= day,
                    Booking.status == BookingStatus.BOOKED,
                )
            )
        ).all()
    )
    count = blocked = 0
    now = utcnow()
    for booking in missed:
        changed = await session.execute(
            update(Booking)
            .where(Booking.id == booking.id, Booking.status == BookingStatus.BOOKED)
            .values(status=BookingStatus.NO_SHOW)
            .execution_options(synchronize_session=False)
        )
        if changed_rows(changed) != 1:
            continue
        count += 1
        mine = (PatientStanding.city_id == city.id) & (
            PatientStanding.patient_hash == booking.patient_hash
        )
        await session.execute(
            update(PatientStanding)
            .where(mine)
            .values(
                no_shows=PatientStanding.no_shows + 1,
                active=func.max(PatientStanding.active - 1, 0)
                if session.get_bind().dialect.name == "sqlite"
                else func.greatest(PatientStanding.active - 1, 0),
                last_no_show=booking.day,
            )
            .execution_options(synchronize_session=False)
        )
        block = await session.execute(
            update(PatientStanding)
            .where(mine, PatientStanding.no_shows >= rules.no_show_limit)
            .values(no_shows=0, blocked_until=now + dt.timedelta(days=rules.no_show_block_days))
            .execution_options(synchronize_session=False)
        )
        blocked += changed_rows(block)
    return count, blocked
