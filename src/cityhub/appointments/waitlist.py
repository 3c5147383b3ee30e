"""The waitlist of a full session: joining it and one's place in line (the offers it gets are
made where places are freed, in `service`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import family, schedules
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import WaitlistEntry, WaitStatus
from cityhub.cities import service as cities
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def join_waitlist(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    user_id: str,
    session_public_id: str,
    family_member: str | None,
) -> WaitlistEntry:
    """Queue for a full session (Conflict while it has places)."""
    view = await schedules.get_view_or_raise(
        session=session, city_id=city.id, public_id=session_public_id
    )
    await cities.require_service_granted(
        session=session, channel_id=channel_id, service=view.service
    )
    patient = await family.patient(
        session=session,
        channel_id=channel_id,
        user_id=user_id,
        family_member=family_member,
        required=view.service.required_level,
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    future = [s for s in view.slots if s.starts_at > utcnow()]
    if not future:
        raise Conflict("this session has begun", code="booking_closed")
    booking_rules.check_window(rules, view.clinic, future[-1], city.timezone, None)
    if any(s.taken < s.capacity for s in future):
        raise Conflict("this session still has places: book one", code="session_not_full")
    already = await session.scalar(
        select(WaitlistEntry.public_id).where(
            WaitlistEntry.city_id == city.id,
            WaitlistEntry.session_id == view.clinic.id,
            WaitlistEntry.patient_hash == patient.patient_hash,
            WaitlistEntry.status.in_((WaitStatus.WAITING, WaitStatus.OFFERED)),
        )
    )
    if already is not None:
        raise Conflict("this patient is already waiting for this session", code="already_waiting")
    entry = WaitlistEntry(
        city_id=city.id,
        public_id=schedules.new_id("wl"),
        session_id=view.clinic.id,
        channel_id=channel_id,
        user_id=user_id,
        resident_id=patient.resident_id,
        family_member_id=patient.family_member_id,
        patient_hash=patient.patient_hash,
        status=WaitStatus.WAITING,
        created_at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def waitlist_position(*, session: AsyncSession, entry: WaitlistEntry) -> int | None:
    """1 for the first in line; None once the entry no longer waits."""
    if entry.status != WaitStatus.WAITING:
        return None
    ahead = await session.scalar(
        select(func.count()).where(
            WaitlistEntry.city_id == entry.city_id,
            WaitlistEntry.session_id == entry.session_id,
            WaitlistEntry.status == WaitStatus.WAITING,
            WaitlistEntry.id < entry.id,
        )
    )
    return int(ahead or 0) + 1


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    user_id: str | None = None,
    statuses: tuple[WaitStatus, ...] = (WaitStatus.WAITING, WaitStatus.OFFERED),
    limit: int = 200,
) -> list[WaitlistEntry]:
    """A city's waitlist entries in line order (of one channel's user when given)."""
    query = (
        select(WaitlistEntry)
        .where(WaitlistEntry.city_id == city_id, WaitlistEntry.status.in_(statuses))
        .order_by(WaitlistEntry.session_id, WaitlistEntry.id)
        .limit(limit)
    )
    if channel_id is not None:
        query = query.where(WaitlistEntry.channel_id == channel_id)
    if user_id:
        query = query.where(WaitlistEntry.user_id == user_id)
    return list((await session.scalars(query)).all())
