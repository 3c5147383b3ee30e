"""Sessions as they are browsed: a session with its hospital, department, doctor, slots and
waitlist length; one by id; a city's searched."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import (
    ClinicSession,
    Department,
    Practitioner,
    Slot,
    WaitlistEntry,
    WaitStatus,
)
from cityhub.appointments.schemas import RulesRead, SessionRead, SlotRead
from cityhub.cities import service as cities
from cityhub.platform.errors import NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service


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
            department_names=self.department.names,
            practitioner=self.doctor.code,
            practitioner_name=self.doctor.name,
            practitioner_title=self.doctor.title,
            practitioner_titles=self.doctor.titles,
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
        service = await cities.get_service(
            session=session, city_id=clinic.city_id, service_id=clinic.service_id
        )
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
    practitioner: str | None = None,
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
        try:
            found = await cities.get_service_or_raise(
                session=session, city_id=city_id, code=hospital
            )
        except NotFound:
            return []  # no hospital of that code: no session of it
        query = query.where(ClinicSession.service_id == found.id)
    if department:
        query = query.join(Department, Department.id == ClinicSession.department_id).where(
            Department.code == department
        )
    if practitioner:
        query = query.join(Practitioner, Practitioner.id == ClinicSession.practitioner_id).where(
            Practitioner.code == practitioner
        )
    if day_from:
        query = query.where(ClinicSession.day >= day_from)
    if day_to:
        query = query.where(ClinicSession.day <= day_to)
    if after:
        query = query.where(ClinicSession.id > after)
    clinics = list((await session.scalars(query)).all())
    return await views(session=session, city_id=city_id, clinics=clinics)
