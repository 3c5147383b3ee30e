"""The directory a Schedule points at: Practitioner, PractitionerRole, HealthcareService,
Location and Organization of the hospitals granted to the channel, and Patient (the channel's
own users and their family members)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.fhir import resources
from cityhub.appointments.fhir.access import ResourceId, Scope, ScopeDep
from cityhub.appointments.fhir.resources import Where, number_of
from cityhub.appointments.fhir.wire import FhirRoute, fhir
from cityhub.appointments.models import Department, FamilyMember, Practitioner
from cityhub.cities import service as cities
from cityhub.identity import residents
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import Service

router = APIRouter(route_class=FhirRoute)
READABLE = ("Practitioner", "PractitionerRole", "HealthcareService", "Location", "Organization")


def actor_resources(wheres: Iterable[Where], kinds: set[str]) -> list[dict[str, Any]]:
    """The Practitioners, HealthcareServices and Locations of the sessions (`*` for all)."""
    found: dict[str, dict[str, Any]] = {}
    for where in wheres:
        made = []
        if kinds & {"*", "Practitioner"}:
            made.append(resources.practitioner(where.doctor, where.service))
        if kinds & {"*", "HealthcareService"}:
            made.append(resources.healthcare_service(where.department, where.service))
        if kinds & {"*", "Location"}:
            made.append(resources.location(where.service))
        for resource in made:
            found[f"{resource['resourceType']}/{resource['id']}"] = resource
    return list(found.values())


def _missing(kind: str, fhir_id: str) -> NotFound:
    return NotFound(f"no {kind}/{fhir_id}", code="resource_not_found")


async def _hospital(session: AsyncSession, scope: Scope, kind: str, fhir_id: str) -> Service:
    number = number_of(kind, fhir_id)
    city_id = None if number is None else scope.services.get(number)
    service = None
    if number is not None and city_id is not None:
        service = await cities.get_service(session=session, city_id=city_id, service_id=number)
    if service is None:
        raise _missing(kind, fhir_id)
    if scope.city is not None and service.city_id != scope.city.id:
        raise _missing(kind, fhir_id)
    return service


async def _doctor(session: AsyncSession, scope: Scope, kind: str, fhir_id: str) -> Where:
    number = number_of(kind, fhir_id)
    doctor = None if number is None else await session.get(Practitioner, number)
    if doctor is None or doctor.service_id not in scope.services:
        raise _missing(kind, fhir_id)
    if scope.city is not None and doctor.city_id != scope.city.id:
        raise _missing(kind, fhir_id)
    service = await cities.get_service(
        session=session, city_id=doctor.city_id, service_id=doctor.service_id
    )
    department = await session.get(Department, doctor.department_id)
    assert service is not None and department is not None
    return Where(service, department, doctor)


@router.get("/Practitioner/{fhir_id}")
async def read_practitioner(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """A doctor of a hospital granted to the channel."""
    where = await _doctor(session, scope, "Practitioner", fhir_id)
    return fhir(resources.practitioner(where.doctor, where.service))


@router.get("/PractitionerRole/{fhir_id}")
async def read_practitioner_role(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """A doctor's role in their department."""
    return fhir(
        resources.practitioner_role(await _doctor(session, scope, "PractitionerRole", fhir_id))
    )


@router.get("/HealthcareService/{fhir_id}")
async def read_healthcare_service(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """A department of a hospital granted to the channel."""
    number = number_of("HealthcareService", fhir_id)
    department = None if number is None else await session.get(Department, number)
    if department is None or department.service_id not in scope.services:
        raise _missing("HealthcareService", fhir_id)
    if scope.city is not None and department.city_id != scope.city.id:
        raise _missing("HealthcareService", fhir_id)
    service = await cities.get_service(
        session=session, city_id=department.city_id, service_id=department.service_id
    )
    assert service is not None
    return fhir(resources.healthcare_service(department, service))


@router.get("/Location/{fhir_id}")
async def read_location(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """A hospital's site."""
    return fhir(resources.location(await _hospital(session, scope, "Location", fhir_id)))


@router.get("/Organization/{fhir_id}")
async def read_organization(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """A hospital."""
    return fhir(resources.organization(await _hospital(session, scope, "Organization", fhir_id)))


@router.get("/Patient/{fhir_id}")
async def read_patient(session: SessionDep, scope: ScopeDep, fhir_id: ResourceId) -> Any:
    """One of the channel's users (or a family member one of them added); nobody else's."""
    channel_id = scope.caller.channel.id
    if fhir_id.startswith("fm-"):
        member = await session.scalar(select(FamilyMember).where(FamilyMember.public_id == fhir_id))
        if member is None or not await residents.is_channel_user(
            session=session, channel_id=channel_id, resident_id=member.resident_id
        ):
            raise _missing("Patient", fhir_id)
        return fhir(resources.patient(fhir_id, member.id_number_masked))
    try:
        found = await residents.get_for_channel_or_raise(
            session=session, channel_id=channel_id, user_id=fhir_id
        )
    except NotFound:
        raise _missing("Patient", fhir_id) from None
    return fhir(resources.patient(fhir_id, found.resident.id_number_masked))
