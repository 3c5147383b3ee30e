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
import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    bindparam,
    func,
    insert,
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
from cityhub.platform import idempotency_late
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


# What the booking's read loads, each model's columns labelled "<name>__<attribute>": plain
# columns, no ORM entities (a sold-out attempt builds none, a booking builds them unattached).
_TO_BOOK = (
    (Slot, "slot"), (ClinicSession, "clinic"), (Department, "department"),
    (Practitioner, "doctor"), (BookingRules, "rules"),
)  # fmt: skip


def _keys(model: Any) -> tuple[str, ...]:
    return tuple(attr.key for attr in model.__mapper__.column_attrs)


@functools.cache
def _to_book_query(probe: bool) -> Any:
    """The slot, its session, department and doctor, the city's rules (and, with `probe`,
    whether the request's idempotency key stands): built once, values bound at execution."""
    columns = [
        getattr(model, key).label(f"{name}__{key}")
        for model, name in _TO_BOOK
        for key in _keys(model)
    ]
    query = (
        select(*columns)
        .select_from(Slot)
        .join(ClinicSession, ClinicSession.id == Slot.session_id)
        .join(Department, Department.id == ClinicSession.department_id)
        .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
        .outerjoin(BookingRules, BookingRules.city_id == Slot.city_id)
        .where(Slot.city_id == bindparam("city_id"), Slot.public_id == bindparam("slot"))
    )
    return query.add_columns(idempotency_late.PROBE_COLUMN) if probe else query


def _unattached(model: Any, name: str, row: Any) -> Any:
    """A row's columns as an instance of `model` outside the session (read, never changed)."""
    return model(**{key: row[f"{name}__{key}"] for key in _keys(model)})


async def place_to_book(
    *,
    session: AsyncSession,
    city_id: int,
    slot_public_id: str,
    key: idempotency_late.LateIdempotency | None = None,
) -> tuple[Place, RulesRead]:
    """A slot of the city with a place left when read, and the city's rules, in one query;
    NotFound, or Conflict (`full`) before anything else is read or written: a sold-out
    attempt costs one statement. With the request's `key`, the same statement reads whether
    the key stands, and a standing key is settled (replayed) first. The place's rows are
    unattached copies: the place is taken by `take`, never by changing them."""
    params: dict[str, Any] = {"city_id": city_id, "slot": slot_public_id}
    if key is not None:
        params.update(key.params())
    connection = await session.connection()
    result = await connection.execute(_to_book_query(key is not None), params)
    row = result.mappings().first()
    if row is None or not row["clinic__active"]:
        raise _no_slot(slot_public_id)
    if key is not None:
        await key.settle(bool(row[idempotency_late.PROBE]))
    if row["slot__taken"] >= row["slot__capacity"]:
        raise full()  # full when read: no need to lock anything to say so
    parts = [_unattached(model, name, row) for model, name in _TO_BOOK[:4]]
    rules = None if row["rules__id"] is None else _unattached(BookingRules, "rules", row)
    return await _with_service(session, city_id, parts), booking_rules.of_row(rules)


async def place_of(*, session: AsyncSession, booking: Booking) -> Place:
    """The place a booking is for."""
    place = await _place(session, booking.city_id, Slot.id == booking.slot_id)
    assert place is not None  # a booking's slot always exists
    return place


def to_book_query(*, probe: bool) -> Any:
    """The booking's first read (`place_to_book`), for a read of the same rows elsewhere."""
    return _to_book_query(probe)


@functools.cache
def _count_patient(dialect: str) -> Any:
    """The patient's conditional count (built once per dialect, values bound)."""
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        maker(PatientStanding)
        .values(
            city_id=bindparam("city_id"), patient_hash=bindparam("patient_hash"), active=1,
            no_shows=0,
        )
        .on_conflict_do_update(
            index_elements=["city_id", "patient_hash"],
            set_={"active": PatientStanding.active + 1},
            where=(PatientStanding.active < bindparam("max_active"))
            & (
                PatientStanding.blocked_until.is_(None)
                | (PatientStanding.blocked_until <= bindparam("now"))
            ),
        )
        .returning(PatientStanding.id)
    )  # fmt: skip


async def lock_patient(
    *, session: AsyncSession, city_id: int, patient: family.Patient, rules: RulesRead
) -> None:
    """Count one more active booking for the patient, within the rules, holding their row
    until the transaction ends; Conflict or Forbidden when a rule says no."""
    # One statement: a first booking makes the row, a later one counts on it if the rules let
    # it (the row stays locked either way); no row back means a rule said no.
    now = utcnow()
    counted = await session.scalar(
        _count_patient(session.get_bind().dialect.name),
        {"city_id": city_id, "patient_hash": patient.patient_hash,
         "max_active": rules.max_active, "now": now},
    )  # fmt: skip
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


_SAME_DAY = select(Booking.public_id).where(
    Booking.city_id == bindparam("city_id"),
    Booking.patient_hash == bindparam("patient_hash"),
    Booking.department_id == bindparam("department_id"),
    Booking.day == bindparam("day"),
    Booking.status.in_(SAME_DAY),
)


async def check_same_day(
    *, session: AsyncSession, city_id: int, patient_hash: str, place: Place, rules: RulesRead
) -> None:
    """Conflict when the rules allow one booking per department and day and the patient has
    one there that day."""
    if not rules.one_per_department_day:
        return
    other = await session.scalar(
        _SAME_DAY,
        {"city_id": city_id, "patient_hash": patient_hash,
         "department_id": place.department.id, "day": place.clinic.day},
    )  # fmt: skip
    if other is not None:
        raise Conflict(
            f"this patient already has booking {other} in {place.department.name} on "
            f"{place.clinic.day}",
            code="already_booked_that_day",
            booking=other,
        )


_INSERT = insert(Booking).returning(Booking.id)
_INSERTED = tuple(c.key for c in Booking.__mapper__.column_attrs if c.key != "id")


async def insert_booking(*, session: AsyncSession, booking: Booking) -> None:
    """Write a new booking that nothing in this transaction changes again (the answer is read
    from the object): one Core `INSERT ... RETURNING id`, no flush of the session. The object
    stays outside the session."""
    values = {name: getattr(booking, name) for name in _INSERTED}
    connection = await session.connection()
    booking.id = (await connection.execute(_INSERT, values)).scalar_one()


_TAKE = (
    update(Slot)
    .where(Slot.id == bindparam("slot_id"), Slot.taken < Slot.capacity)
    .values(taken=Slot.taken + 1)
    .execution_options(synchronize_session=False)
)


async def take(*, session: AsyncSession, slot: Slot) -> None:
    """Take one place of the slot, or Conflict: the one statement fairness rests on."""
    changed = await session.execute(_TAKE, {"slot_id": slot.id})
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
