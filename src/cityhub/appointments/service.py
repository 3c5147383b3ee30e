"""Bookings: a place taken fairly, the patient's standing under the real-name rules, and the
bookings read back. The use cases built on these (book, cancel, a hold and its fee) are in
`flows`; the waitlist's offers of freed places in `waitlist`.

No place is ever given twice: a place is taken by one conditional `UPDATE appt_slots SET taken
= taken + 1 WHERE taken < capacity`, and a freed place is either handed on to the first in line
of the waitlist (it stays taken, as an offer) or given back by `taken - 1`. A patient's booking
first locks their `appt_patients` row (one upsert of its counter, conditional on the rules), so
the real-name rules (one per department and day, at most N active, blocked after no-shows) are
checked by one transaction at a time per patient, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import family
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import (
    ACTIVE,
    Booking,
    BookingRules,
    BookingStatus,
    ClinicSession,
    Department,
    PatientStanding,
    Practitioner,
    Slot,
)
from cityhub.appointments.schemas import RulesRead
from cityhub.cities import service as cities
from cityhub.platform import timeline
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import Service

CHECKIN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Taken by a booking's patient that day in that department (a check-in still counts).
SAME_DAY = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.CHECKED_IN)


def changed_rows(result: object) -> int:
    """How many rows a conditional UPDATE changed."""
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


def _place_query(city_id: int, where: Any) -> Any:
    return (
        select(Slot, ClinicSession, Department, Practitioner)
        .join(ClinicSession, ClinicSession.id == Slot.session_id)
        .join(Department, Department.id == ClinicSession.department_id)
        .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
        .where(Slot.city_id == city_id, where)
    )


async def _with_service(session: AsyncSession, city_id: int, row: Any) -> Place:
    slot, clinic, department, doctor = row[:4]
    hospital = await cities.get_service(
        session=session, city_id=city_id, service_id=clinic.service_id
    )
    assert hospital is not None  # a session's hospital is of its city
    return Place(slot, clinic, hospital, department, doctor)


async def _place(session: AsyncSession, city_id: int, where: Any) -> Place | None:
    row = (await session.execute(_place_query(city_id, where))).first()
    return None if row is None else await _with_service(session, city_id, row)


def _no_slot(slot_public_id: str) -> NotFound:
    return NotFound(f"no slot {slot_public_id!r} in this city", code="slot_not_found", field="slot")


async def place_or_raise(*, session: AsyncSession, city_id: int, slot_public_id: str) -> Place:
    """A slot of the city and its session, or NotFound (a slot of another city is none)."""
    place = await _place(session, city_id, Slot.public_id == slot_public_id)
    if place is None or not place.clinic.active:
        raise _no_slot(slot_public_id)
    return place


async def place_to_book(
    *, session: AsyncSession, city_id: int, slot_public_id: str
) -> tuple[Place, RulesRead]:
    """A slot of the city with a place left when read, and the city's rules, in one query;
    NotFound, or Conflict (`full`) before anything else is read: a sold-out attempt costs
    one statement."""
    query = _place_query(city_id, Slot.public_id == slot_public_id)
    query = query.add_columns(BookingRules).outerjoin(
        BookingRules, BookingRules.city_id == Slot.city_id
    )
    row = (await session.execute(query)).first()
    if row is None or not row[1].active:
        raise _no_slot(slot_public_id)
    if row[0].taken >= row[0].capacity:
        raise full()  # full when read: no need to lock anything to say so
    return await _with_service(session, city_id, row), booking_rules.of_row(row[4])


async def place_of(*, session: AsyncSession, booking: Booking) -> Place:
    """The place a booking is for."""
    place = await _place(session, booking.city_id, Slot.id == booking.slot_id)
    assert place is not None  # a booking's slot always exists
    return place


async def lock_patient(
    *, session: AsyncSession, city_id: int, patient: family.Patient, rules: RulesRead
) -> None:
    """Count one more active booking for the patient, within the rules, holding their row
    until the transaction ends; Conflict or Forbidden when a rule says no."""
    # One statement: a first booking makes the row, a later one counts on it if the rules let
    # it (the row stays locked either way); no row back means a rule said no.
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    counted = await session.scalar(
        maker(PatientStanding)
        .values(city_id=city_id, patient_hash=patient.patient_hash, active=1, no_shows=0)
        .on_conflict_do_update(
            index_elements=["city_id", "patient_hash"],
            set_={"active": PatientStanding.active + 1},
            where=(PatientStanding.active < rules.max_active)
            & (PatientStanding.blocked_until.is_(None) | (PatientStanding.blocked_until <= now)),
        )
        .returning(PatientStanding.id)
    )
    if counted is not None:
        return
    mine = (PatientStanding.city_id == city_id) & (
        PatientStanding.patient_hash == patient.patient_hash
    )
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


async def release_patient(*, session: AsyncSession, city_id: int, patient_hash: str) -> None:
    """Count one active booking less for the patient (a booking ended or was checked in)."""
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


async def check_same_day(
    *, session: AsyncSession, city_id: int, patient_hash: str, place: Place, rules: RulesRead
) -> None:
    """Conflict when the rules allow one booking per department and day and the patient has
    one there that day."""
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


async def take(*, session: AsyncSession, slot: Slot) -> None:
    """Take one place of the slot, or Conflict: the one statement fairness rests on."""
    changed = await session.execute(
        update(Slot)
        .where(Slot.id == slot.id, Slot.taken < Slot.capacity)
        .values(taken=Slot.taken + 1)
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        raise full()


def full() -> Conflict:
    """The refusal of a slot with no place left."""
    return Conflict(
        "this slot has no place left; pick another or join the session's waitlist",
        code="slot_full",
        field="slot",
    )


# -- reading ---------------------------------------------------------------------------------


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


async def get_by_payment(*, session: AsyncSession, city_id: int, payment_id: int) -> Booking | None:
    """The booking whose fee is this payment, if any."""
    return await session.scalar(
        select(Booking).where(Booking.city_id == city_id, Booking.payment_id == payment_id)
    )


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


async def bookings_of(
    *,
    session: AsyncSession,
    city_ids: Sequence[int],
    resident_id: int,
    users: Sequence[tuple[int, str]],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The person's bookings made by these channel users of theirs in these cities, newest
    first (their history; found by the bookings' channel-user index)."""
    if not users or not city_ids:
        return []
    pairs = or_(*(and_(Booking.channel_id == c, Booking.user_id == u) for c, u in users))
    rows = await session.execute(
        select(Booking, Department.service_id, Department.name)
        .join(
            Department,
            (Department.city_id == Booking.city_id) & (Department.id == Booking.department_id),
        )
        .where(
            Booking.city_id.in_(city_ids),
            pairs,
            Booking.resident_id == resident_id,
            timeline.older_than("booking", Booking.created_at, Booking.id, before),
        )
        .order_by(Booking.created_at.desc(), Booking.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="booking",
            row_id=b.id,
            at=b.created_at,
            city_id=b.city_id,
            channel_id=b.channel_id,
            ref=b.public_id,
            title=department,
            status=BookingStatus(b.status).value,
            service_id=service_id,
            details={"day": b.day.isoformat()},
        )
        for b, service_id, department in rows
    ]


def usage_facts(*, city_id: int) -> Select[Any]:
    """The city's bookings as usage facts (`platform.facts.COLUMNS`): one that got its place
    (`booked_at`, whatever came after) succeeded; the hub records no latency of its own for a
    booking (a hold lasts as long as the patient takes to pay)."""
    ok = Booking.booked_at.is_not(None)
    return (
        select(
            literal_column("'appointments'", String).label("pillar"),
            Department.service_id.label("service_id"),
            Booking.channel_id.label("channel_id"),
            null().cast(String).label("district"),
            Booking.resident_id.label("person"),
            Booking.created_at.label("at"),
            case((ok, 1), else_=0).label("ok"),
            null().cast(Float).label("latency_ms"),
            literal_column("0", Integer).label("fee_fen"),
        )
        .join(
            Department,
            (Department.city_id == Booking.city_id) & (Department.id == Booking.department_id),
        )
        .where(Booking.city_id == city_id, Booking.status != BookingStatus.OFFERED)
    )
