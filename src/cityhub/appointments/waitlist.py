"""The waitlist of a full session: joining it, one's place in line, and the offers it gets: a
freed place goes to the first in line (it stays taken, for them) until they take it, let it pass
or let its time run out."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import clinics, events, family, schedules
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import (
    Booking,
    BookingStatus,
    ClinicSession,
    Slot,
    WaitlistEntry,
    WaitStatus,
)
from cityhub.appointments.service import changed_rows, checkin_code
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
    view = await clinics.get_view_or_raise(
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


# -- offers of freed places ------------------------------------------------------------------


async def _first_in_line(session: AsyncSession, city: City, slot: Slot) -> WaitlistEntry | None:
    """The first in line of the slot's session, now claimed for an offer; None when nobody
    waits (or the slot has begun)."""
    while True:
        first = await session.scalar(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.city_id == city.id,
                WaitlistEntry.session_id == slot.session_id,
                WaitlistEntry.status == WaitStatus.WAITING,
            )
            .order_by(WaitlistEntry.id)
            .limit(1)
        )
        if first is None or slot.starts_at <= utcnow():
            return None
        claimed = await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == first.id, WaitlistEntry.status == WaitStatus.WAITING)
            .values(status=WaitStatus.OFFERED)
            .execution_options(synchronize_session=False)
        )
        if changed_rows(claimed) == 1:
            return first


async def free_place(*, session: AsyncSession, city: City, slot_id: int) -> None:
    """A place of the slot is free again: offer it to the first in line of its session's
    waitlist (the place stays taken, for them), or give it back."""
    slot = await session.get(Slot, slot_id)
    assert slot is not None
    rules = await booking_rules.get(session=session, city_id=city.id)
    first = await _first_in_line(session, city, slot)
    if first is None:
        await session.execute(
            update(Slot)
            .where(Slot.id == slot.id, Slot.taken > 0)
            .values(taken=Slot.taken - 1)
            .execution_options(synchronize_session=False)
        )
        return
    clinic = await session.get(ClinicSession, slot.session_id)
    assert clinic is not None
    offer = Booking(
        city_id=city.id,
        public_id=schedules.new_id("bk"),
        session_id=clinic.id,
        slot_id=slot.id,
        department_id=clinic.department_id,
        day=clinic.day,
        channel_id=first.channel_id,
        user_id=first.user_id,
        resident_id=first.resident_id,
        family_member_id=first.family_member_id,
        patient_hash=first.patient_hash,
        status=BookingStatus.OFFERED,
        hold_expires_at=utcnow() + dt.timedelta(minutes=rules.offer_minutes),
        checkin_code=checkin_code(),
        created_at=utcnow(),
    )
    session.add(offer)
    await session.flush()
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.id == first.id)
        .values(booking_id=offer.id)
        .execution_options(synchronize_session=False)
    )
    assert offer.hold_expires_at is not None
    await outbox.enqueue(
        session=session,
        topic=events.OFFER_EXPIRY,
        city_id=city.id,
        payload={"booking_id": offer.id},
        delay=offer.hold_expires_at - utcnow() + dt.timedelta(seconds=1),
    )
    await events.tell_channel(
        session=session, city=city, booking=offer, topic="appointment.offered"
    )


async def expire_offer(*, session: AsyncSession, city: City, booking_id: int) -> bool:
    """An offer not taken in time passes to the next in line; whether this call did it."""
    changed = await session.execute(
        update(Booking)
        .where(
            Booking.city_id == city.id,
            Booking.id == booking_id,
            Booking.status == BookingStatus.OFFERED,
            Booking.hold_expires_at <= utcnow(),
        )
        .values(status=BookingStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        return False
    await offer_done(session=session, booking_id=booking_id)
    booking = await session.get(Booking, booking_id)
    assert booking is not None
    await free_place(session=session, city=city, slot_id=booking.slot_id)
    return True


async def decline(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """The patient lets an offered place pass to the next in line."""
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.OFFERED)
        .values(status=BookingStatus.CANCELLED, cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        raise Conflict("the offer is no longer open", code="offer_closed")
    await offer_done(session=session, booking_id=booking.id)
    await free_place(session=session, city=city, slot_id=booking.slot_id)
    await session.refresh(booking)
    return booking


async def offer_done(*, session: AsyncSession, booking_id: int) -> None:
    """The waitlist entry an offer was made to waits no more (taken, let pass or expired)."""
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.booking_id == booking_id)
        .values(status=WaitStatus.DONE)
        .execution_options(synchronize_session=False)
    )
