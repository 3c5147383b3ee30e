"""Who may see what under /fhir/r4: a channel sees the hospitals granted to it, in every city
that granted it some (`/fhir/r4`) or in one (`/fhir/r4/cities/{slug}`, the city selector)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.fhir.resources import Where
from cityhub.appointments.models import ClinicSession, Department, Practitioner, Slot
from cityhub.cities import service as cities
from cityhub.identity.deps import ChannelCaller, CurrentChannel
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

SCOPE = "appointments:write"
ResourceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


@dataclass(frozen=True)
class Scope:
    """The calling channel, the hospitals it may see here and the city selected (if any)."""

    caller: ChannelCaller
    services: Mapping[int, int]  # the hospitals it may see, each with its city's id
    city: City | None

    def sessions(self) -> Any:
        """Where a session is one the caller may see."""
        clause = ClinicSession.service_id.in_(sorted(self.services))
        return clause if self.city is None else clause & (ClinicSession.city_id == self.city.id)


async def scope(request: Request, session: SessionDep, caller: CurrentChannel) -> Scope:
    """The caller's scope under the base URL it called."""
    caller.require(SCOPE)
    city = None
    slug = request.path_params.get("city")
    if slug is not None:
        city = await cities.get_city_or_raise(session=session, slug=slug)
        await cities.require_city_granted(session=session, channel_id=caller.channel.id, city=city)
    services = await cities.granted_services(
        session=session, channel_id=caller.channel.id, city_id=city.id if city else None
    )
    return Scope(caller, services, city)


ScopeDep = Annotated[Scope, Depends(scope)]


def parents() -> Any:
    """A select of sessions joined to their department and doctor (their hospital is read
    through the cities domain: `where_in`)."""
    return (
        select(ClinicSession, Department, Practitioner)
        .join(Department, Department.id == ClinicSession.department_id)
        .join(Practitioner, Practitioner.id == ClinicSession.practitioner_id)
    )


async def horizons(
    session: AsyncSession, clinic_ids: Sequence[int]
) -> dict[int, tuple[dt.datetime, dt.datetime]]:
    """Each session's first start and last end."""
    if not clinic_ids:
        return {}
    rows = await session.execute(
        select(Slot.session_id, func.min(Slot.starts_at), func.max(Slot.ends_at))
        .where(Slot.session_id.in_(clinic_ids))
        .group_by(Slot.session_id)
    )
    found = {}
    for clinic_id, first, last in rows.all():
        # An aggregate is read past the column type on SQLite: make it an aware datetime.
        first, last = (_aware(first), _aware(last))
        found[clinic_id] = (first, last)
    return found


def _aware(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


async def session_of(
    session: AsyncSession, scope: Scope, public_id: str
) -> tuple[ClinicSession, Where]:
    """A session the caller may see, or NotFound."""
    row = (
        await session.execute(
            parents().where(ClinicSession.public_id == public_id, scope.sessions())
        )
    ).first()
    if row is None:
        raise NotFound(f"no Schedule/{public_id}", code="session_not_found")
    return row[0], await where_in(session, row[0], row[1], row[2])


async def hospital_of(session: AsyncSession, clinic: ClinicSession) -> Service:
    """A session's hospital (read once per session: the session keeps it)."""
    service = await cities.get_service(
        session=session, city_id=clinic.city_id, service_id=clinic.service_id
    )
    assert service is not None
    return service


async def where_in(
    session: AsyncSession, clinic: ClinicSession, department: Department, doctor: Practitioner
) -> Where:
    """A session's parents, from the department and doctor read with it."""
    return Where(await hospital_of(session, clinic), department, doctor)


async def where_of(session: AsyncSession, clinic: ClinicSession) -> Where:
    """A session's parents."""
    department = await session.get(Department, clinic.department_id)
    doctor = await session.get(Practitioner, clinic.practitioner_id)
    assert department is not None and doctor is not None
    return await where_in(session, clinic, department, doctor)
