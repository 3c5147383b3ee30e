"""Schedules synced from the hospital's own system through its connector: fetched with no
transaction open, then applied in one (places taken here are never touched)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import schedules
from cityhub.appointments.models import ClinicSession, Department, Period, Practitioner, Slot
from cityhub.appointments.schemas import SyncRead
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.connectors import types
from cityhub.platform.clock import today_in
from cityhub.platform.config import Settings
from cityhub.platform.db import Database

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service


def period_of(local: dt.time) -> Period:
    """The half-day a local start time falls in."""
    if local < dt.time(12, 0):
        return Period.MORNING
    return Period.AFTERNOON if local < dt.time(18, 0) else Period.EVENING


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
    config = service.connector_config
    fee = int(config.get("registration_fee_fen") or 0)
    # A department's own registration fee, where the hospital charges one per department.
    fees = {str(k): int(v) for k, v in (config.get("registration_fees_fen") or {}).items()}
    names = {d.id: d.name for d in fetched.departments}
    departments = {
        d.id: await schedules.get_or_create_department(
            session=session, service=service, code=d.id, name=d.name, names=d.names
        )
        for d in fetched.departments
    }
    added = updated = 0
    sessions: set[int] = set()
    for doc in fetched.practitioners:
        code = doc.department_id or "general"
        department = departments.get(code) or await schedules.get_or_create_department(
            session=session, service=service, code=code, name=names.get(code)
        )
        departments[code] = department
        doctor = await schedules.get_or_create_practitioner(
            session=session,
            service=service,
            department=department,
            code=doc.id,
            name=doc.name,
            title=doc.title,
            titles=doc.titles,
        )
        existing = await _synced_slots(session, city.id, doctor.id)
        for slot in fetched.slots.get(doc.id, []):
            free = 1 if slot.status == "free" else 0
            known = existing.get(slot.id)
            if known is not None:
                updated += await _set_capacity(session, known, free)
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
                fees.get(code, fee),
            )
            sessions.add(clinic.id)
            session.add(
                Slot(
                    city_id=city.id,
                    public_id=schedules.new_id("sl"),
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


async def _set_capacity(session: AsyncSession, known: Slot, free: int) -> int:
    """A synced slot's places as the hospital says, unless one was taken here: 1 if changed."""
    if known.capacity == free:
        return 0
    changed = await session.execute(
        update(Slot)
        .where(Slot.id == known.id, Slot.taken == 0)
        .values(capacity=free)
        .execution_options(synchronize_session=False)
    )
    return int(changed.rowcount)  # type: ignore[attr-defined]


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
            public_id=schedules.new_id("ss"),
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


async def sync_city(
    db: Database, settings: Settings, *, city: str, hospital: str | None = None, days: int = 7
) -> list[SyncRead]:
    """Sync a city's hospitals (or one) from their own systems, `days` ahead from today in the
    city's time: each hospital's schedule is fetched outside any transaction, then applied in
    one of its own."""
    from cityhub.connectors.registry import ConnectorHub

    hub = ConnectorHub(settings)
    results = []
    try:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            services = await _hospitals(session, found.id, hospital)
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


async def _hospitals(session: AsyncSession, city_id: int, code: str | None) -> list[Service]:
    """The city's active hospitals (only the one of this code, when given)."""
    found: list[Service] = []
    after = None
    while batch := await cities.get_all_services(
        session=session, city_id=city_id, kind=ServiceKind.APPOINTMENT, after=after, limit=500
    ):
        found += [
            s for s in batch if s.status == ServiceStatus.ACTIVE and code in (None, "", s.code)
        ]
        after = batch[-1].id
    return found
