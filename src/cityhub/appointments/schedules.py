"""Schedules: departments, practitioners, sessions and slots, entered by staff (API or CSV).
Synced from the hospital's own system: `sync`; read and searched: `clinics`."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.models import Booking, ClinicSession, Department, Practitioner, Slot
from cityhub.appointments.schemas import CsvRead, SessionCreate
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.identity import audit
from cityhub.platform import texts
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service


def new_id(prefix: str) -> str:
    """A public id that is also a valid FHIR id: a prefix, a dash and 32 hex digits."""
    return f"{prefix}-{uuid.uuid4().hex}"


async def hospital_of(*, session: AsyncSession, booking: Booking) -> Service:
    """The hospital (service) a booking is at."""
    clinic = await session.get(ClinicSession, booking.session_id)
    assert clinic is not None  # a booking's session always exists
    service = await cities.get_service(
        session=session, city_id=booking.city_id, service_id=clinic.service_id
    )
    assert service is not None
    return service


async def hospital_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Service:
    """An appointment service (a hospital) of the city, or NotFound."""
    service = await cities.get_service_or_raise(session=session, city_id=city_id, code=code)
    if service.kind != ServiceKind.APPOINTMENT:
        raise NotFound(f"service {code!r} is not a hospital", code="not_a_hospital")
    return service


async def get_or_create_department(
    *,
    session: AsyncSession,
    service: Service,
    code: str,
    name: str | None,
    names: Mapping[Any, str] | None = None,
) -> Department:
    """The hospital's department of this code (made when new; renamed when named anew, its
    translations too)."""
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
    if names and texts.translations(names) != found.names:
        found.names = texts.translations(names)
    return found


async def get_or_create_practitioner(
    *,
    session: AsyncSession,
    service: Service,
    department: Department,
    code: str,
    name: str | None,
    title: str | None,
    titles: Mapping[Any, str] | None = None,
) -> Practitioner:
    """The hospital's doctor of this code (made when new; moved and renamed as told)."""
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
    if titles and texts.translations(titles) != found.titles:
        found.titles = texts.translations(titles)
    return found


# Raises unless the acting staff member may act for this hospital (`deps.require_provider`).
HospitalGuard = Callable[["Service"], None]


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
    department = await get_or_create_department(
        session=session,
        service=service,
        code=session_in.department,
        name=session_in.department_name,
        names=session_in.department_names,
    )
    doctor = await get_or_create_practitioner(
        session=session,
        service=service,
        department=department,
        code=session_in.practitioner,
        name=session_in.practitioner_name,
        title=session_in.practitioner_title,
        titles=session_in.practitioner_titles,
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
