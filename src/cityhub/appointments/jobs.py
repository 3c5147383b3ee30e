"""Hospital appointments' recurring jobs: schedules from the hospitals, tomorrow's reminders,
the day's no-shows, and holds past their time (a backstop: the outbox lets each go on time)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import desk, events, flows, sync
from cityhub.appointments.models import (
    Booking,
    BookingStatus,
    ClinicSession,
    Department,
    Practitioner,
    Slot,
)
from cityhub.cities import service as cities
from cityhub.platform.db import utcnow
from cityhub.platform.scheduler import JobContext, job

if TYPE_CHECKING:
    from cityhub.cities.models import City

SYNC_DAYS = 7


@job(
    "sync-schedules",
    cron="*/30 * * * *",
    description=f"sync the hospitals' sessions for the coming {SYNC_DAYS} days",
)
async def sync_schedules(ctx: JobContext) -> dict[str, Any]:
    """Every hospital of the city, each fetched outside a transaction."""
    results = await sync.sync_city(
        ctx.db, ctx.settings, city=ctx.require_city().slug, days=SYNC_DAYS
    )
    return {
        "hospitals": len(results),
        "sessions": sum(r.sessions for r in results),
        "slots_added": sum(r.slots_added for r in results),
    }


@job(
    "remind-appointments",
    cron="0 18 * * *",
    description="remind patients of tomorrow's appointments (once each)",
)
async def remind_appointments(ctx: JobContext) -> dict[str, Any]:
    """Queue the reminder of every booking of tomorrow; a booking already reminded (by its own
    timer) is not reminded again: the notice is keyed by booking and time."""
    city = ctx.require_city()
    tomorrow = ctx.local_due.date() + dt.timedelta(days=1)
    async with ctx.db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(Booking, Slot, ClinicSession.service_id, Department, Practitioner)
                .join(Slot, Slot.id == Booking.slot_id)
                .join(ClinicSession, ClinicSession.id == Slot.session_id)
                .join(Department, Department.id == ClinicSession.department_id)
                .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
                .where(
                    Booking.city_id == city.id,
                    Booking.day == tomorrow,
                    Booking.status == BookingStatus.BOOKED,
                )
                .order_by(Booking.id)
            )
        ).all()
        for booking, slot, service_id, department, doctor in rows:
            # One read per hospital: the session keeps each once it is read.
            hospital = await cities.get_service(
                session=session, city_id=city.id, service_id=service_id
            )
            assert hospital is not None
            await outbox.enqueue(
                session=session,
                topic=events.REMINDER,
                city_id=city.id,
                payload=events.reminder_payload(city, booking, slot, hospital, department, doctor),
            )
    return {"day": tomorrow.isoformat(), "reminders": len(rows)}


@job(
    "no-shows",
    cron="5 0 * * *",
    catch_up=7,
    description="the day before: booked appointments not checked in become no-shows",
)
async def no_shows(ctx: JobContext) -> dict[str, Any]:
    """Mark the no-shows of the day that ended."""
    async with ctx.db.unit_of_work() as session:
        count, blocked = await desk.mark_no_shows(
            session=session, city=ctx.require_city(), day=ctx.day_before
        )
    return {"day": ctx.day_before.isoformat(), "no_shows": count, "blocked": blocked}


async def release_expired(*, session: AsyncSession, city: City) -> int:
    """Let go every hold of the city whose fee was not paid in time; how many."""
    ids = (
        await session.scalars(
            select(Booking.id).where(
                Booking.city_id == city.id,
                Booking.status == BookingStatus.HELD,
                Booking.hold_expires_at <= utcnow(),
            )
        )
    ).all()
    released = 0
    for booking_id in ids:
        released += await flows.release_hold(session=session, city=city, booking_id=booking_id)
    return released


@job("release-holds", cron="*/5 * * * *", description="let go holds whose fee was not paid")
async def release_holds(ctx: JobContext) -> dict[str, Any]:
    """The backstop of the holds' own timers."""
    async with ctx.db.unit_of_work() as session:
        released = await release_expired(session=session, city=ctx.require_city())
    return {"released": released}
