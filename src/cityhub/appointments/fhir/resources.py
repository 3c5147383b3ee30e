"""Hub rows as R4 resources. Ids are unique across the hub: sessions, slots and bookings have
public ids; a doctor is `Practitioner/pr-{n}` (and `PractitionerRole/prr-{n}`), a department
`HealthcareService/hs-{n}`, a hospital `Organization/org-{n}` at `Location/loc-{n}`, where n is
the row's hub-wide number (a hospital's own doctor codes repeat across hospitals)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cityhub.appointments.models import (
    BookingStatus,
    ClinicSession,
    Department,
    Practitioner,
    Slot,
)
from cityhub.appointments.schemas import BookingRead
from cityhub.cities.enums import ServiceStatus

if TYPE_CHECKING:
    from cityhub.cities.models import Service

BOOKING_SYSTEM = "urn:cityhub:booking"
DEPARTMENT_SYSTEM = "urn:cityhub:department"
FEE_EXTENSION = "urn:cityhub:fee-payment"
PREFIX = {
    "Practitioner": "pr",
    "PractitionerRole": "prr",
    "HealthcareService": "hs",
    "Location": "loc",
    "Organization": "org",
}
STATUS = {
    BookingStatus.HELD: "pending",
    BookingStatus.BOOKED: "booked",
    BookingStatus.CHECKED_IN: "checked-in",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.EXPIRED: "cancelled",
    BookingStatus.NO_SHOW: "noshow",
    BookingStatus.OFFERED: "proposed",
}


def local_id(kind: str, number: int) -> str:
    """The FHIR id of a directory row."""
    return f"{PREFIX[kind]}-{number}"


def number_of(kind: str, fhir_id: str) -> int | None:
    """The row number in a directory id of the kind (None when it is not one)."""
    head, _, tail = fhir_id.partition("-")
    return int(tail) if head == PREFIX[kind] and tail.isdigit() and len(tail) < 19 else None


def ref(kind: str, number: int, display: str | None = None) -> dict[str, Any]:
    """A reference to a directory resource."""
    found: dict[str, Any] = {"reference": f"{kind}/{local_id(kind, number)}"}
    if display:
        found["display"] = display
    return found


def instant(value: dt.datetime) -> str:
    """An R4 instant in UTC."""
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _department_code(department: Department) -> list[dict[str, Any]]:
    coding = {"system": DEPARTMENT_SYSTEM, "code": department.code, "display": department.name}
    return [{"coding": [coding], "text": department.name}]


@dataclass(frozen=True)
class Where:
    """A session's parents: what Schedule, Slot and Appointment resources point at."""

    service: Service
    department: Department
    doctor: Practitioner


def actors(where: Where) -> list[dict[str, Any]]:
    """A Schedule's actors: the doctor, the department, the hospital."""
    return [
        ref("Practitioner", where.doctor.id, where.doctor.name),
        ref("HealthcareService", where.department.id, where.department.name),
        ref("Location", where.service.id, where.service.name_en),
    ]


def schedule(
    clinic: ClinicSession, where: Where, horizon: tuple[dt.datetime, dt.datetime] | None
) -> dict[str, Any]:
    """A session as a Schedule."""
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": clinic.public_id,
        "active": clinic.active,
        "serviceType": _department_code(where.department),
        "specialty": _department_code(where.department),
        "actor": actors(where),
        "comment": f"{where.service.name_en}, {clinic.day} {clinic.period.value}",
    }
    if horizon:
        resource["planningHorizon"] = {"start": instant(horizon[0]), "end": instant(horizon[1])}
    return resource


def slot(row: Slot, clinic: ClinicSession, where: Where) -> dict[str, Any]:
    """A slot; `busy` when no place is left."""
    left = max(0, row.capacity - row.taken)
    return {
        "resourceType": "Slot",
        "id": row.public_id,
        "serviceType": _department_code(where.department),
        "specialty": _department_code(where.department),
        "schedule": {"reference": f"Schedule/{clinic.public_id}"},
        "status": "free" if left > 0 else "busy",
        "start": instant(row.starts_at),
        "end": instant(row.ends_at),
        "comment": f"{left} of {row.capacity} places left",
    }


def proposed(row: Slot, where: Where) -> dict[str, Any]:
    """A free slot as the proposed Appointment `$find` answers with (not stored: no id)."""
    return {
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": _department_code(where.department),
        "specialty": _department_code(where.department),
        "start": instant(row.starts_at),
        "end": instant(row.ends_at),
        "slot": [{"reference": f"Slot/{row.public_id}"}],
        "participant": [
            {
                "actor": ref("Practitioner", where.doctor.id, where.doctor.name),
                "required": "required",
                "status": "needs-action",
            },
            {
                "actor": ref("Location", where.service.id, where.service.name_en),
                "required": "required",
                "status": "needs-action",
            },
        ],
    }


def appointment(read: BookingRead, where: Where) -> dict[str, Any]:
    """A booking as an Appointment."""
    patient = read.family_member or read.user_id
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
        {"actor": ref("Practitioner", where.doctor.id, where.doctor.name), "status": "accepted"},
        {"actor": ref("Location", where.service.id, where.service.name_en), "status": "accepted"},
    ]
    if read.family_member:
        participants.append(
            {"actor": {"reference": f"RelatedPerson/{read.user_id}"}, "status": "accepted"}
        )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": read.id,
        "identifier": [{"system": BOOKING_SYSTEM, "value": read.id}],
        "status": STATUS[read.status],
        "serviceType": _department_code(where.department),
        "specialty": _department_code(where.department),
        "description": f"{read.hospital_name}, {read.department_name}, {read.practitioner_name}",
        "start": instant(read.start),
        "end": instant(read.end),
        "created": instant(read.created_at),
        "slot": [{"reference": f"Slot/{read.slot}"}],
        "participant": participants,
    }
    if read.fee is not None:
        resource["extension"] = [{"url": FEE_EXTENSION, "valueString": read.fee.payment}]
    if read.status == BookingStatus.EXPIRED:
        resource["cancelationReason"] = {"text": "the hold or offer expired"}
    return resource


def practitioner(doctor: Practitioner, service: Service) -> dict[str, Any]:
    """A doctor, with the hospital's own code as an identifier."""
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": local_id("Practitioner", doctor.id),
        "identifier": [{"system": f"urn:cityhub:hospital:{service.id}", "value": doctor.code}],
        "active": True,
        "name": [{"text": doctor.name}],
    }
    if doctor.title:
        resource["qualification"] = [{"code": {"text": doctor.title}}]
    return resource


def practitioner_role(where: Where) -> dict[str, Any]:
    """A doctor's role: in a department of a hospital."""
    return {
        "resourceType": "PractitionerRole",
        "id": local_id("PractitionerRole", where.doctor.id),
        "active": True,
        "practitioner": ref("Practitioner", where.doctor.id, where.doctor.name),
        "organization": ref("Organization", where.service.id, where.service.name_en),
        "location": [ref("Location", where.service.id, where.service.name_en)],
        "healthcareService": [ref("HealthcareService", where.department.id, where.department.name)],
        "specialty": _department_code(where.department),
    }


def healthcare_service(department: Department, service: Service) -> dict[str, Any]:
    """A department of a hospital."""
    return {
        "resourceType": "HealthcareService",
        "id": local_id("HealthcareService", department.id),
        "active": True,
        "providedBy": ref("Organization", service.id, service.name_en),
        "location": [ref("Location", service.id, service.name_en)],
        "type": _department_code(department),
        "specialty": _department_code(department),
        "name": department.name,
    }


def location(service: Service) -> dict[str, Any]:
    """A hospital's site."""
    return {
        "resourceType": "Location",
        "id": local_id("Location", service.id),
        "status": "active" if service.status == ServiceStatus.ACTIVE else "inactive",
        "name": service.name_en,
        "alias": [service.name_zh_hans],
        "managingOrganization": ref("Organization", service.id, service.name_en),
    }


def organization(service: Service) -> dict[str, Any]:
    """A hospital."""
    return {
        "resourceType": "Organization",
        "id": local_id("Organization", service.id),
        "active": service.status == ServiceStatus.ACTIVE,
        "name": service.name_en,
        "alias": [service.name_zh_hans],
    }


def patient(fhir_id: str, masked_id_number: str | None) -> dict[str, Any]:
    """One of the channel's patients: its user (or a family member), with no more than the
    masked identity number."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": fhir_id, "active": True}
    if masked_id_number:
        resource["identifier"] = [
            {"system": "urn:cityhub:id-number-masked", "value": masked_id_number}
        ]
    return resource
