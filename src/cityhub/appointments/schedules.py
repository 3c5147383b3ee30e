"""Schedules: departments, practitioners, sessions and slots, entered by staff (API or CSV) or
synced from the hospital's own system through its connector."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import (
    Booking,
    ClinicSession,
    Department,
    Period,
    Practitioner,
    Slot,
    WaitlistEntry,
    WaitStatus,
)
from cityhub.appointments.schemas import (
    CsvRead,
    RulesRead,
    SessionCreate,
    SessionRead,
    SlotRead,
    SyncRead,
)
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.cities.models import Service
from cityhub.connectors import types
from cityhub.identity import audit
from cityhub.platform.clock import today_in
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City


def new_id(prefix: str) -> str:
    """A public id that is also a valid FHIR id: a prefix, a dash and 32 hex digits."""
    return f"{prefix}-{uuid.uuid4().hex}"


def period_of(local: dt.time) -> Period:
    """The half-day a local start time falls in."""
    if local < dt.time(12, 0):
        return Period.MORNING
    return Period.AFTERNOON if local < dt.time(18, 0) else Period.EVENING


async def hospital_of(*, session: AsyncSession, booking: Booking) -> Service:
    """The hospital (service) a booking is at."""
    service = await session.scalar(
        select(Service)
        .join(ClinicSession, ClinicSession.service_id == Service.id)
        .where(ClinicSession.id == booking.session_id, Service.city_id == booking.city_id)
    )
    assert service is not None  # a booking's session always exists
    return service


async def hospital_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Service:
    """An appointment service (a hospital) of the city, or NotFound."""
    service = await cities.get_service_or_raise(session=session, city_id=city_id, code=code)
    if service.kind != ServiceKind.APPOINTMENT:
        raise NotFound(f"service {code!r} is not a hospital", code="not_a_hospital")
    return service


async def _department(
    session: AsyncSession, service: Service, code: str, name: str | None
) -> Department:
    found = await session.scalar(
        select(Department).where(
            Department.city_id == service.city_id,
            Department.service_id == service.id,
            Department.code == code,
        )
    )
    if found is None:
        found = Department(
            city_id=service.city_id, service_id=service.id, code=code, name=name or code
        )
        session.add(found)
        await session.flush()
    elif name and found.name != name:
        found.name = name
    return found


async def _practitioner(
    session: AsyncSession,
    service: Service,
    department: Department,
    code: str,
    name: str | None,
    title: str | None,
) -> Practitioner:
    found = await session.scalar(
        select(Practitioner).where(
            Practitioner.city_id == service.city_id,
            Practitioner.service_id == service.id,
            Practitioner.code == code,
        )
    )
    if found is None:
        found = Practitioner(
            city_id=service.city_id,
            service_id=service.id,
            department_id=department.id,
            code=code,
            name=name or code,
            title=title,
        )
        session.add(found)
        await session.flush()
    else:
        found.department_id = department.id
        found.name = name or found.name
        found.title = title or found.title
    return found


# Raises unless the acting staff member may act for this hospital (`deps.require_provider`).
HospitalGuard = Callable[[Service], None]


async def create_session(
    *,
    session: AsyncSession,
    city: City,
    session_in: SessionCreate,
    source: str = "api",
    guard: HospitalGuard | None = None,
) -> ClinicSession:
    """A session entered by staff, with its slots (Conflict if the doctor already has one
    for that day and period)."""
    service = await hospital_or_raise(session=session, city_id=city.id, code=session_in.service)
    if guard is not None:
        guard(service)
    tz = ZoneInfo(city.timezone)
    department = await _department(
        session, service, session_in.department, session_in.department_name
    )
    doctor = await _practitioner(
        session,
        service,
        department,
        session_in.practitioner,
        session_in.practitioner_name,
        session_in.practitioner_title,
    )
    taken = await session.scalar(
        select(ClinicSession.id).where(
            ClinicSession.city_id == city.id,
            ClinicSession.practitioner_id == doctor.id,
            ClinicSession.day == session_in.day,
            ClinicSession.period == session_in.period,
        )
    )
    if taken is not None:
        raise Conflict(
            f"{doctor.name} already has a {session_in.period.value} session on {session_in.day}",
            code="session_exists",
            field="period",
        )
    clinic = ClinicSession(
        city_id=city.id,
        public_id=new_id("ss"),
        service_id=service.id,
        department_id=department.id,
        practitioner_id=doctor.id,
        day=session_in.day,
        period=session_in.period,
        fee_fen=session_in.fee_fen,
        currency=session_in.currency,
        opens_at=session_in.opens_at,
        source=source,
    )
    session.add(clinic)
    await session.flush()
    for n, slot_in in enumerate(session_in.slots):
        if slot_in.end <= slot_in.start:
            raise Unprocessable(
                "a slot ends after it starts", code="invalid_slot", field=f"slots.{n}.end"
            )
        session.add(
            Slot(
                city_id=city.id,
                public_id=new_id("sl"),
                session_id=clinic.id,
                starts_at=dt.datetime.combine(session_in.day, slot_in.start, tz),
                ends_at=dt.datetime.combine(session_in.day, slot_in.end, tz),
                capacity=slot_in.capacity,
                taken=0,
            )
        )
    await session.flush()
    return clinic


CSV_COLUMNS = (
    "service",
    "department",
    "department_name",
    "practitioner",
    "practitioner_name",
    "practitioner_title",
    "day",
    "period",
    "fee_fen",
    "slot_start",
    "slot_end",
    "capacity",
)


async def import_csv(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    city: City,
    text: str,
    guard: HospitalGuard | None = None,
) -> CsvRead:
    """Sessions from a CSV (one row per slot, rows of one session together); all or nothing,
    and on the audit log."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise Unprocessable(
            f"the CSV lacks the columns {', '.join(missing)}", code="invalid_csv", field="file"
        )
    grouped: dict[tuple[str, ...], dict[str, object]] = {}
    for line, row in enumerate(reader, start=2):
        if None in row:  # DictReader files surplus fields under None
            raise Unprocessable(
                f"line {line}: more fields than the header's {len(reader.fieldnames or [])}",
                code="invalid_csv",
                field=f"line {line}",
            )
        key = (row["service"], row["practitioner"], row["day"], row["period"])
        head = grouped.setdefault(key, {**row, "slots": []})
        slots = head["slots"]
        assert isinstance(slots, list)
        slots.append(
            {"start": row["slot_start"], "end": row["slot_end"], "capacity": row["capacity"]}
        )
        head["line"] = head.get("line", line)
    slot_count = 0
    for head in grouped.values():
        data = {k: v for k, v in head.items() if k in SessionCreate.model_fields and v != ""}
        try:
            session_in = SessionCreate.model_validate(data)
        except ValueError as exc:
            raise Unprocessable(
                f"line {head['line']}: {exc}".splitlines()[0] + " " + str(exc).splitlines()[-1],
                code="invalid_csv",
                field="file",
            ) from None
        await create_session(
            session=session, city=city, session_in=session_in, source="csv", guard=guard
        )
        slot_count += len(session_in.slots)
    made = CsvRead(sessions=len(grouped), slots=slot_count)
    await audit.append(
        session=session,
        city_id=city.id,
        actor=actor,
        action="appointments.sessions.upload",
        object_type="appointment",
        object_id=city.slug,
        details=made.model_dump(),
    )
    return made


# -- sync from the hospital ------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What a hospital's system said: its departments, doctors, and their slots."""

    departments: list[types.Department]
    practitioners: list[types.Practitioner]
    slots: dict[str, list[types.Slot]]  # by practitioner id


async def fetch(hospital: types.Hospital, *, start: dt.date, days: int) -> Fetched:
    """Ask the hospital for everything a sync needs (no database session open)."""
    departments = await hospital.departments()
    practitioners = await hospital.practitioners()
    slots: dict[str, list[types.Slot]] = {}
    end = start + dt.timedelta(days=days)
    for doctor in practitioners:
        found: list[types.Slot] = []
        for schedule in await hospital.schedules(practitioner_id=doctor.id):
            found += await hospital.slots(
                schedule_id=schedule.id, start=start, end=end, free_only=False
            )
        slots[doctor.id] = found
    return Fetched(departments, practitioners, slots)


async def apply(
    *, session: AsyncSession, city: City, service: Service, fetched: Fetched
) -> SyncRead:
    """Bring the hub's schedule of the hospital in line with what it said: new sessions and
    slots are added; a slot the hospital says is busy (and nobody booked here) has no place,
    a free one has one. Places taken here are never touched."""
    tz = ZoneInfo(city.timezone)
    fee = int(service.connector_config.get("registration_fee_fen") or 0)
    names = {d.id: d.name for d in fetched.departments}
    departments = {
        d.id: await _department(session, service, d.id, d.name) for d in fetched.departments
    }
    added = updated = 0
    sessions: set[int] = set()
    for doc in fetched.practitioners:
        code = doc.department_id or "general"
        department = departments.get(code) or await _department(
            session, service, code, names.get(code)
        )
        departments[code] = department
        doctor = await _practitioner(session, service, department, doc.id, doc.name, doc.title)
        existing = await _synced_slots(session, city.id, doctor.id)
        for slot in fetched.slots.get(doc.id, []):
            free = 1 if slot.status == "free" else 0
            known = existing.get(slot.id)
            if known is not None:
                if known.capacity != free:
                    changed = await session.execute(
                        update(Slot)
                        .where(Slot.id == known.id, Slot.taken == 0)
                        .values(capacity=free)
                        .execution_options(synchronize_session=False)
                    )
                    updated += int(changed.rowcount)  # type: ignore[attr-defined]
                sessions.add(known.session_id)
                continue
            local = slot.start.astimezone(tz)
            clinic = await _session_for(
                session,
                city,
                service,
                department,
                doctor,
                local.date(),
                period_of(local.time()),
                fee,
            )
            sessions.add(clinic.id)
            session.add(
                Slot(
                    city_id=city.id,
                    public_id=new_id("sl"),
                    session_id=clinic.id,
                    starts_at=slot.start,
                    ends_at=slot.end,
                    capacity=free,
                    taken=0,
                    external_id=slot.id,
                )
            )
            added += 1
    await session.flush()
    return SyncRead(
        service=service.code,
        departments=len(departments),
        practitioners=len(fetched.practitioners),
        sessions=len(sessions),
        slots_added=added,
        slots_updated=updated,
    )


async def _synced_slots(session: AsyncSession, city_id: int, doctor_id: int) -> dict[str, Slot]:
    rows = await session.scalars(
        select(Slot)
        .join(ClinicSession, ClinicSession.id == Slot.session_id)
        .where(
            Slot.city_id == city_id,
            ClinicSession.practitioner_id == doctor_id,
            Slot.external_id.is_not(None),
        )
    )
    return {s.external_id: s for s in rows.all() if s.external_id}


async def _session_for(
    session: AsyncSession,
    city: City,
    service: Service,
    department: Department,
    doctor: Practitioner,
    day: dt.date,
    period: Period,
    fee: int,
) -> ClinicSession:
    found = await session.scalar(
        select(ClinicSession).where(
            ClinicSession.city_id == city.id,
            ClinicSession.practitioner_id == doctor.id,
            ClinicSession.day == day,
            ClinicSession.period == period,
        )
    )
    if found is None:
        found = ClinicSession(
            city_id=city.id,
            public_id=new_id("ss"),
            service_id=service.id,
            department_id=department.id,
            practitioner_id=doctor.id,
            day=day,
            period=period,
            fee_fen=fee,
            currency=city.currency,
            source="sync",
        )
        session.add(found)
        await session.flush()
    return found


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionView:
    """A session with everything its answers show."""

    clinic: ClinicSession
    service: Service
    department: Department
    doctor: Practitioner
    slots: list[Slot]
    waiting: int

    def read(self, city: City, rules: RulesRead) -> SessionRead:
        """The API shape."""
        slots = [
            SlotRead(
                id=s.public_id,
                start=s.starts_at,
                end=s.ends_at,
                capacity=s.capacity,
                left=max(0, s.capacity - s.taken),
            )
            for s in self.slots
        ]
        return SessionRead(
            id=self.clinic.public_id,
            city=city.slug,
            hospital=self.service.code,
            hospital_name=self.service.name_en,
            department=self.department.code,
            department_name=self.department.name,
            practitioner=self.doctor.code,
            practitioner_name=self.doctor.name,
            practitioner_title=self.doctor.title,
            day=self.clinic.day,
            period=self.clinic.period,
            fee_fen=self.clinic.fee_fen,
            currency=self.clinic.currency,
            opens_at=booking_rules.opens_at(rules, self.clinic, city.timezone),
            capacity=sum(s.capacity for s in self.slots),
            left=sum(s.left for s in slots),
            waiting=self.waiting,
            slots=slots,
        )


async def views(
    *, session: AsyncSession, city_id: int, clinics: Sequence[ClinicSession]
) -> list[SessionView]:
    """The sessions with their parents, slots and waitlist length."""
    if not clinics:
        return []
    ids = [c.id for c in clinics]
    slots: dict[int, list[Slot]] = {i: [] for i in ids}
    for slot in await session.scalars(
        select(Slot)
        .where(Slot.city_id == city_id, Slot.session_id.in_(ids))
        .order_by(Slot.starts_at, Slot.id)
    ):
        slots[slot.session_id].append(slot)
    waiting = dict(
        (
            await session.execute(
                select(WaitlistEntry.session_id, func.count())
                .where(
                    WaitlistEntry.city_id == city_id,
                    WaitlistEntry.session_id.in_(ids),
                    WaitlistEntry.status == WaitStatus.WAITING,
                )
                .group_by(WaitlistEntry.session_id)
            )
        ).all()
    )
    found = []
    for clinic in clinics:
        service = await session.get(Service, clinic.service_id)
        department = await session.get(Department, clinic.department_id)
        doctor = await session.get(Practitioner, clinic.practitioner_id)
        assert service is not None and department is not None and doctor is not None
        found.append(
            SessionView(
                clinic, service, department, doctor, slots[clinic.id], waiting.get(clinic.id, 0)
            )
        )
    return found


async def get_clinic(*, session: AsyncSession, city_id: int, clinic_id: int) -> ClinicSession:
    """A clinic session of the city by its row id (one the caller already holds a row of)."""
    clinic = await session.get(ClinicSession, clinic_id)
    if clinic is None or clinic.city_id != city_id:
        raise NotFound("no such clinic session", code="session_not_found")
    return clinic


async def get_view_or_raise(*, session: AsyncSession, city_id: int, public_id: str) -> SessionView:
    """A session of the city, or NotFound."""
    clinic = await session.scalar(
        select(ClinicSession).where(
            ClinicSession.city_id == city_id, ClinicSession.public_id == public_id
        )
    )
    if clinic is None:
        raise NotFound(f"no session {public_id!r}", code="session_not_found")
    return (await views(session=session, city_id=city_id, clinics=[clinic]))[0]


async def search(
    *,
    session: AsyncSession,
    city_id: int,
    service_ids: set[int] | None,
    hospital: str | None = None,
    department: str | None = None,
    day_from: dt.date | None = None,
    day_to: dt.date | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[SessionView]:
    """A city's active sessions (of the given services), by day, then id."""
    query = (
        select(ClinicSession)
        .where(ClinicSession.city_id == city_id, ClinicSession.active.is_(True))
        .order_by(ClinicSession.id)
        .limit(limit)
    )
    if service_ids is not None:
        query = query.where(ClinicSession.service_id.in_(service_ids))
    if hospital:
        query = query.join(Service, Service.id == ClinicSession.service_id).where(
            Service.code == hospital
        )
    if department:
        query = query.join(Department, Department.id == ClinicSession.department_id).where(
            Department.code == department
        )
    if day_from:
        query = query.where(ClinicSession.day >= day_from)
    if day_to:
        query = query.where(ClinicSession.day <= day_to)
    if after:
        query = query.where(ClinicSession.id > after)
    clinics = list((await session.scalars(query)).all())
    return await views(session=session, city_id=city_id, clinics=clinics)


async def sync_city(
    db: Database, settings: Settings, *, city: str, hospital: str | None = None, days: int = 7
) -> list[SyncRead]:
    """Sync a city's hospitals (or one) from their own systems, `days` ahead from today in the
    city's time: each hospital's schedule is fetched outside any transaction, then applied in
    one of its own."""
    from cityhub.cities.models import ServiceStatus
    from cityhub.connectors.registry import ConnectorHub

    hub = ConnectorHub(settings)
    results = []
    try:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            query = select(Service).where(
                Service.city_id == found.id,
                Service.kind == ServiceKind.APPOINTMENT,
                Service.status == ServiceStatus.ACTIVE,
            )
            if hospital:
                query = query.where(Service.code == hospital)
            services = list((await session.scalars(query)).all())
            connectors = [await hub.hospital(session=session, service=s) for s in services]
        start = today_in(found.timezone)
        for service, connector in zip(services, connectors, strict=True):
            fetched = await fetch(connector, start=start, days=days + 1)
            async with db.unit_of_work() as session:
                results.append(
                    await apply(session=session, city=found, service=service, fetched=fetched)
                )
    finally:
        await hub.aclose()
    return results
