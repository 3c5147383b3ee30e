"""Bookings: take a place fairly, hold it for the fee, cancel, the waitlist's offers, check-in
and no-shows.

No place is ever given twice: a place is taken by one conditional `UPDATE appt_slots SET taken
= taken + 1 WHERE taken < capacity`, and a freed place is either handed on to the first in line
of the waitlist (it stays taken, as an offer) or given back by `taken - 1`. A patient's booking
first locks their `appt_patients` row (a conditional UPDATE of its counter), so the real-name
rules (one per department and day, at most N active, blocked after no-shows) are checked by one
transaction at a time per patient, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import family, flows, schedules
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import (
    ACTIVE,
    Booking,
    BookingStatus,
    ClinicSession,
    Department,
    PatientStanding,
    Practitioner,
    Slot,
    WaitlistEntry,
    WaitStatus,
)
from cityhub.appointments.schemas import RulesRead
from cityhub.billing.service import PaymentView
from cityhub.cities import service as cities
from cityhub.cities.models import Service
from cityhub.platform import metrics
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City

CHECKIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
OFFER_EXPIRY = "appointments.offer_expiry"
HOLD_EXPIRY = "appointments.hold_expiry"
# Taken by a booking's patient that day in that department (a check-in still counts).
SAME_DAY = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.CHECKED_IN)


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def checkin_code() -> str:
    """A code for the desk to scan: 10 characters, no look-alikes."""
    return "".join(secrets.choice(CHECKIN_ALPHABET) for _ in range(10))


@dataclass(frozen=True)
class Place:
    """A slot with its session and what a booking needs to know about them."""

    slot: Slot
    clinic: ClinicSession
    service: Service
    department: Department
    doctor: Practitioner


async def place_or_raise(*, session: AsyncSession, city_id: int, slot_public_id: str) -> Place:
    """A slot of the city and its session, or NotFound (a slot of another city is none)."""
    row = (
        await session.execute(
            select(Slot, ClinicSession, Service, Department, Practitioner)
            .join(ClinicSession, ClinicSession.id == Slot.session_id)
            .join(Service, Service.id == ClinicSession.service_id)
            .join(Department, Department.id == ClinicSession.department_id)
            .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
            .where(Slot.city_id == city_id, Slot.public_id == slot_public_id)
        )
    ).first()
    if row is None or not row[1].active:
        raise NotFound(
            f"no slot {slot_public_id!r} in this city", code="slot_not_found", field="slot"
        )
    return Place(*row)


async def _lock_patient(
    session: AsyncSession, city_id: int, patient: family.Patient, rules: RulesRead
) -> None:
    """Count one more active booking for the patient, within the rules, holding their row
    until the transaction ends; Conflict or Forbidden when a rule says no."""
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        maker(PatientStanding)
        .values(city_id=city_id, patient_hash=patient.patient_hash, active=0, no_shows=0)
        .on_conflict_do_nothing(index_elements=["city_id", "patient_hash"])
    )
    now = utcnow()
    mine = (PatientStanding.city_id == city_id) & (
        PatientStanding.patient_hash == patient.patient_hash
    )
    changed = await session.execute(
        update(PatientStanding)
        .where(
            mine,
            PatientStanding.active < rules.max_active,
            PatientStanding.blocked_until.is_(None) | (PatientStanding.blocked_until <= now),
        )
        .values(active=PatientStanding.active + 1)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) == 1:
        return
    standing = (await session.execute(select(PatientStanding).where(mine))).scalar_one()
    if standing.blocked_until is not None and standing.blocked_until > now:
        raise Forbidden(
            f"after {rules.no_show_limit} missed appointments this patient cannot book until "
            f"{standing.blocked_until.isoformat()}",
            code="blocked_for_no_shows",
            field="family_member" if patient.family_member_id else "user_id",
        )
    raise Conflict(
        f"this patient already has {rules.max_active} active bookings, the most allowed",
        code="too_many_bookings",
    )


async def _release_patient(session: AsyncSession, city_id: int, patient_hash: str) -> None:
    await session.execute(
        update(PatientStanding)
        .where(
            PatientStanding.city_id == city_id,
            PatientStanding.patient_hash == patient_hash,
            PatientStanding.active > 0,
        )
        .values(active=PatientStanding.active - 1)
        .execution_options(synchronize_session=False)
    )


async def _check_same_day(
    session: AsyncSession, city_id: int, patient_hash: str, place: Place, rules: RulesRead
) -> None:
    if not rules.one_per_department_day:
        return
    other = await session.scalar(
        select(Booking.public_id).where(
            Booking.city_id == city_id,
            Booking.patient_hash == patient_hash,
            Booking.department_id == place.department.id,
            Booking.day == place.clinic.day,
            Booking.status.in_(SAME_DAY),
        )
    )
    if other is not None:
        raise Conflict(
            f"this patient already has booking {other} in {place.department.name} on "
            f"{place.clinic.day}",
            code="already_booked_that_day",
            booking=other,
        )


async def _take(session: AsyncSession, slot: Slot) -> None:
    """Take one place of the slot, or Conflict: the one statement fairness rests on."""
    changed = await session.execute(
        update(Slot)
        .where(Slot.id == slot.id, Slot.taken < Slot.capacity)
        .values(taken=Slot.taken + 1)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        raise _full()


def _full() -> Conflict:
    return Conflict(
        "this slot has no place left; pick another or join the session's waitlist",
        code="slot_full",
        field="slot",
    )


@dataclass(frozen=True)
class Booked:
    """A booking just made, with its place and its fee's payment (for the answer)."""

    booking: Booking
    place: Place
    fee: PaymentView | None
    family_member: str | None


async def book(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    user_id: str,
    slot_public_id: str,
    family_member: str | None,
    hold: bool = False,
) -> Booked:
    """Book a slot for the user or their family member: within the window, the rules and the
    places left. With a fee (or when `hold` is asked) the place is held until it is paid (or
    confirmed by `confirm_hold`).

    The place is taken last, just before the commit: the slot's row is the one every
    concurrent booking of it waits for, so it is locked for as short a time as can be."""
    place = await place_or_raise(session=session, city_id=city.id, slot_public_id=slot_public_id)
    if place.slot.taken >= place.slot.capacity:
        raise _full()  # full when read: no need to lock anything to say so
    await cities.require_service_granted(
        session=session, channel_id=channel_id, service=place.service
    )
    patient = await family.patient(
        session=session,
        channel_id=channel_id,
        user_id=user_id,
        family_member=family_member,
        required=place.service.required_level,
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    booking_rules.check_window(rules, place.clinic, place.slot, city.timezone, None)
    await _lock_patient(session, city.id, patient, rules)
    await _check_same_day(session, city.id, patient.patient_hash, place, rules)
    now = utcnow()
    booking = Booking(
        city_id=city.id,
        public_id=schedules.new_id("bk"),
        session_id=place.clinic.id,
        slot_id=place.slot.id,
        department_id=place.department.id,
        day=place.clinic.day,
        channel_id=channel_id,
        user_id=user_id,
        resident_id=patient.resident_id,
        family_member_id=patient.family_member_id,
        patient_hash=patient.patient_hash,
        status=BookingStatus.BOOKED,
        checkin_code=checkin_code(),
        created_at=now,
    )
    fee = await _hold_or_confirm(session, city, place, booking, rules, hold=hold)
    await _take(session, place.slot)
    metrics.BOOKINGS.labels(city.slug, booking.status.value).inc()
    return Booked(booking, place, fee, patient.family_public_id)


async def _hold_or_confirm(
    session: AsyncSession,
    city: City,
    place: Place,
    booking: Booking,
    rules: RulesRead,
    *,
    hold: bool = False,
) -> PaymentView | None:
    """Hold the place for the fee (quoted as a payment) or for a confirmation, or make it the
    patient's."""
    fee = None
    if place.clinic.fee_fen > 0 or hold:
        booking.status = BookingStatus.HELD
        booking.hold_expires_at = utcnow() + dt.timedelta(minutes=rules.hold_minutes)
        if place.clinic.fee_fen > 0:
            fee = await flows.quote_fee(session=session, city=city, place=place, booking=booking)
            booking.payment_id = fee.payment.id
        session.add(booking)
        await session.flush()
        await outbox.enqueue(
            session=session,
            topic=HOLD_EXPIRY,
            city_id=city.id,
            payload={"booking_id": booking.id},
            delay=booking.hold_expires_at - utcnow() + dt.timedelta(seconds=flows.GRACE_SECONDS),
        )
    else:
        booking.status = BookingStatus.BOOKED
        booking.booked_at = utcnow()
        session.add(booking)
        await session.flush()
        await flows.booked(session=session, city=city, booking=booking, place=place)
    return fee


# -- freeing places: cancellation, expiry, and the waitlist's offers ---------------------------


async def _free_place(session: AsyncSession, city: City, slot_id: int) -> None:
    """A place of the slot is free again: offer it to the first in line of its session's
    waitlist (the place stays taken, for them), or give it back."""
    slot = await session.get(Slot, slot_id)
    assert slot is not None
    rules = await booking_rules.get(session=session, city_id=city.id)
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
            await session.execute(
                update(Slot)
                .where(Slot.id == slot.id, Slot.taken > 0)
                .values(taken=Slot.taken - 1)
                .execution_options(synchronize_session=False)
            )
            return
        claimed = await session.execute(
            update(WaitlistEntry)
            .where(WaitlistEntry.id == first.id, WaitlistEntry.status == WaitStatus.WAITING)
            .values(status=WaitStatus.OFFERED)
            .execution_options(synchronize_session=False)
        )
        if _rows(claimed) == 1:
            break
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
        topic=OFFER_EXPIRY,
        city_id=city.id,
        payload={"booking_id": offer.id},
        delay=offer.hold_expires_at - utcnow() + dt.timedelta(seconds=1),
    )
    await flows.tell_channel(session=session, city=city, booking=offer, topic="appointment.offered")


async def cancel(*, session: AsyncSession, city: City, booking: Booking, by: str) -> Booking:
    """Cancel a held or booked appointment before the cut-off: the fee (if paid) is refunded
    and the place goes to the waitlist or back to the pool."""
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    rules = await booking_rules.get(session=session, city_id=city.id)
    if booking.status == BookingStatus.OFFERED:
        return await decline(session=session, city=city, booking=booking)
    booking_rules.check_cutoff(rules, slot)
    was = booking.status
    now = utcnow()
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(ACTIVE))
        .values(status=BookingStatus.CANCELLED, cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        await session.refresh(booking)
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}; it cannot be cancelled",
            code="not_cancellable",
            status_now=booking.status.value,
        )
    await session.refresh(booking)
    await _release_patient(session, city.id, booking.patient_hash)
    await flows.cancelled(session=session, city=city, booking=booking, was=was, by=by)
    await _free_place(session, city, booking.slot_id)
    return booking


async def release_hold(*, session: AsyncSession, city: City, booking_id: int) -> bool:
    """Let a held place go once its hold expired and its fee was not paid (the payment's quote
    is expired first, so a confirmation can no longer land); whether this call did it."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.city_id != city.id or booking.status != BookingStatus.HELD:
        return False
    assert booking.hold_expires_at is not None
    if booking.hold_expires_at > utcnow():
        return False
    if booking.payment_id is not None and not await flows.expire_fee(
        session=session, city=city, payment_id=booking.payment_id
    ):
        return False  # the fee was confirmed in time: the booking stands
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.HELD)
        .values(status=BookingStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        return False
    await _release_patient(session, city.id, booking.patient_hash)
    await _free_place(session, city, booking.slot_id)
    return True


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
    if _rows(changed) != 1:
        return False
    await _offer_done(session, booking_id)
    booking = await session.get(Booking, booking_id)
    assert booking is not None
    await _free_place(session, city, booking.slot_id)
    return True


async def decline(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """The patient lets an offered place pass to the next in line."""
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.OFFERED)
        .values(status=BookingStatus.CANCELLED, cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        raise Conflict("the offer is no longer open", code="offer_closed")
    await _offer_done(session, booking.id)
    await _free_place(session, city, booking.slot_id)
    await session.refresh(booking)
    return booking


async def _offer_done(session: AsyncSession, booking_id: int) -> None:
    await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.booking_id == booking_id)
        .values(status=WaitStatus.DONE)
        .execution_options(synchronize_session=False)
    )


async def accept_offer(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """Take an offered place (within the offer's time and the patient's rules)."""
    if booking.status != BookingStatus.OFFERED:
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}, not an offer",
            code="offer_closed",
        )
    assert booking.hold_expires_at is not None
    if booking.hold_expires_at <= utcnow():
        raise Conflict("the offer expired", code="offer_expired")
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    place = await place_or_raise(session=session, city_id=city.id, slot_public_id=slot.public_id)
    rules = await booking_rules.get(session=session, city_id=city.id)
    patient = family.Patient(
        booking.resident_id, booking.family_member_id, None, booking.patient_hash
    )
    await _lock_patient(session, city.id, patient, rules)
    await _check_same_day(session, city.id, patient.patient_hash, place, rules)
    changed = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == BookingStatus.OFFERED,
            Booking.hold_expires_at > utcnow(),
        )
        .values(status=BookingStatus.HELD)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        raise Conflict("the offer expired or was taken back", code="offer_expired")
    await _offer_done(session, booking.id)
    await session.refresh(booking)
    await _hold_or_confirm(session, city, place, booking, rules)
    return booking


async def confirm_hold(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """Make a place held without a fee the patient's, before its hold expires (a fee's hold is
    confirmed by its payment instead)."""
    if booking.status == BookingStatus.BOOKED:
        return booking
    if booking.payment_id is not None:
        raise Conflict(
            "this place is held for its fee: it is booked when the fee is paid",
            code="fee_unpaid",
        )
    changed = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == BookingStatus.HELD,
            Booking.hold_expires_at > utcnow(),
        )
        .values(status=BookingStatus.BOOKED, booked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(booking)
    if _rows(changed) != 1:
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}; it cannot be booked",
            code="hold_closed",
            status_now=booking.status.value,
        )
    await flows.booked(session=session, city=city, booking=booking)
    return booking


async def booking_is_active(session: AsyncSession, public_id: str) -> bool:
    """Whether a booking still stands (held or booked): a reminder's handler asks this before
    reminding, so a cancelled booking is never reminded."""
    status = await session.scalar(select(Booking.status).where(Booking.public_id == public_id))
    return status in ACTIVE


async def get_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None
) -> Booking:
    """A booking of the city (of the channel, when one is given), or NotFound."""
    query = select(Booking).where(Booking.city_id == city_id, Booking.public_id == public_id)
    if channel_id is not None:
        query = query.where(Booking.channel_id == channel_id)
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound(f"no booking {public_id!r}", code="booking_not_found")
    return booking


async def fee_paid(*, session: AsyncSession, city: City, payment_id: int) -> Booking | None:
    """The fee's payment completed: the held place becomes the patient's. A booking that was
    cancelled or let go meanwhile gets its fee back instead."""
    booking = await session.scalar(
        select(Booking).where(Booking.city_id == city.id, Booking.payment_id == payment_id)
    )
    if booking is None:
        return None
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.HELD)
        .values(status=BookingStatus.BOOKED, booked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(booking)
    if _rows(changed) == 1:
        await flows.booked(session=session, city=city, booking=booking)
    elif booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        await flows.refund_fee(
            session=session, city=city, booking=booking, by="hub: booking no longer held"
        )
    return booking


async def fee_failed(*, session: AsyncSession, city: City, payment_id: int) -> bool:
    """The fee's payment failed for good (the channel refunds its user): the place is let go."""
    booking = await session.scalar(
        select(Booking).where(Booking.city_id == city.id, Booking.payment_id == payment_id)
    )
    if booking is None:
        return False
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.HELD)
        .values(status=BookingStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        return False
    await _release_patient(session, city.id, booking.patient_hash)
    await _free_place(session, city, booking.slot_id)
    return True


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None,
    user_id: str | None = None,
    day: dt.date | None = None,
    statuses: tuple[BookingStatus, ...] | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Booking]:
    """A city's bookings, newest first: of one channel (and one of its users) when given."""
    query = select(Booking).where(Booking.city_id == city_id).order_by(Booking.id.desc())
    if channel_id is not None:
        query = query.where(Booking.channel_id == channel_id)
    if user_id:
        query = query.where(Booking.user_id == user_id)
    if day:
        query = query.where(Booking.day == day)
    if statuses:
        query = query.where(Booking.status.in_(statuses))
    if after:
        query = query.where(Booking.id < after)
    return list((await session.scalars(query.limit(limit))).all())


async def count_created_since(*, session: AsyncSession, city_id: int, since: dt.datetime) -> int:
    """Bookings made in the city since then (the console's figures)."""
    found = await session.scalar(
        select(func.count(Booking.id)).where(
            Booking.city_id == city_id, Booking.created_at >= since
        )
    )
    return int(found or 0)
