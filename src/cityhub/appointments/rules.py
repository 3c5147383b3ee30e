"""A city's booking rules: read with defaults, change, and the booking window they set."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.models import BookingRules, ClinicSession, Slot
from cityhub.appointments.schemas import RulesIn, RulesRead
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict

DEFAULTS = RulesRead()


async def get(*, session: AsyncSession, city_id: int) -> RulesRead:
    """The city's rules, or the defaults."""
    return of_row(await session.scalar(select(BookingRules).where(BookingRules.city_id == city_id)))


def of_row(row: BookingRules | None) -> RulesRead:
    """The rules a city's row says (the defaults when it has none)."""
    return DEFAULTS if row is None else RulesRead.model_validate(row, from_attributes=True)


async def update(*, session: AsyncSession, city_id: int, rules_in: RulesIn) -> RulesRead:
    """Change some of the city's rules."""
    row = await session.scalar(select(BookingRules).where(BookingRules.city_id == city_id))
    if row is None:
        row = BookingRules(city_id=city_id, **DEFAULTS.model_dump())
        session.add(row)
    for name, value in rules_in.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    await session.flush()
    return RulesRead.model_validate(row, from_attributes=True)


def opens_at(rules: RulesRead, clinic: ClinicSession, timezone: str) -> dt.datetime:
    """When booking a session opens: its own override, else `window_days` before its day at
    `window_opens_at` in the city's time."""
    if clinic.opens_at is not None:
        return clinic.opens_at
    day = clinic.day - dt.timedelta(days=rules.window_days)
    return dt.datetime.combine(day, rules.window_opens_at, ZoneInfo(timezone)).astimezone(dt.UTC)


def check_window(
    rules: RulesRead, clinic: ClinicSession, slot: Slot, timezone: str, now: dt.datetime | None
) -> None:
    """Conflict unless the slot can be booked now: the window is open and it has not begun."""
    now = now or utcnow()
    opening = opens_at(rules, clinic, timezone)
    if now < opening:
        raise Conflict(
            f"booking this session opens at {opening.astimezone(ZoneInfo(timezone)).isoformat()}",
            code="booking_not_open",
            field="slot",
        )
    if now >= slot.starts_at:
        raise Conflict("this slot has already begun", code="booking_closed", field="slot")


def check_cutoff(rules: RulesRead, slot: Slot, now: dt.datetime | None = None) -> None:
    """Conflict once the cancellation cut-off before the slot has passed."""
    cutoff = slot.starts_at - dt.timedelta(minutes=rules.cancel_cutoff_minutes)
    if (now or utcnow()) >= cutoff:
        raise Conflict(
            f"cancellation closed {rules.cancel_cutoff_minutes} minutes before the slot "
            f"({cutoff.isoformat()})",
            code="cancellation_closed",
        )
