"""The FHIR R4 connector books and cancels at the simulated hospital's FHIR endpoint."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment

from cityhub.cities.models import ServiceKind
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Subject
from cityhub.platform.db import Database
from cityhub.platform.errors import Conflict, NotFound
from tests.connectors.factories import connected_service
from tests.simulators.fixtures import Sim


async def test_departments_doctors_slots_booking_and_cancelling(
    db: Database, hub: ConnectorHub, sim: Sim
) -> None:
    service = await connected_service(
        db,
        connector="fhir",
        config={"base_url": f"{sim.url}/hospital/ruijin/fhir", "provider_id": "ruijin"},
        kind=ServiceKind.APPOINTMENT,
        category="medical",
    )
    async with db.unit_of_work() as session:
        hospital = await hub.hospital(session=session, service=service)
    departments = await hospital.departments()
    assert "internal" in {d.id for d in departments}
    doctors = await hospital.practitioners(department_id="internal")
    assert doctors and all(d.department_id == "internal" for d in doctors)
    schedules = await hospital.schedules(practitioner_id=doctors[0].id)
    assert schedules[0].practitioner_id == doctors[0].id
    today = dt.date.today()
    slots = await hospital.slots(
        schedule_id=schedules[0].id, start=today, end=today + dt.timedelta(days=8)
    )
    assert slots and all(s.status == "free" for s in slots)
    patient = Subject(id_number=sim.world.people[0].id_number, name="谢*")
    booking = await hospital.book(booking_ref="bk-1", slot_id=slots[0].id, patient=patient)
    assert booking.status == "booked" and booking.slot_id == slots[0].id
    again = await hospital.book(booking_ref="bk-1", slot_id=slots[0].id, patient=patient)
    assert again.appointment_id == booking.appointment_id  # conditional create: idempotent
    with pytest.raises(Conflict):
        await hospital.book(booking_ref="bk-2", slot_id=slots[0].id, patient=patient)
    stored = httpx.get(
        f"{sim.url}/hospital/ruijin/fhir/Appointment/{booking.appointment_id}", trust_env=False
    ).json()
    Appointment.model_validate(stored)  # what we sent is a valid FHIR R4 Appointment
    cancelled = await hospital.cancel(appointment_id=booking.appointment_id)
    assert cancelled.status == "cancelled" and cancelled.booking_ref == "bk-1"
    free_again = await hospital.slots(
        schedule_id=schedules[0].id, start=today, end=today + dt.timedelta(days=8)
    )
    assert slots[0].id in {s.id for s in free_again}
    with pytest.raises(NotFound):
        await hospital.cancel(appointment_id="appt-999")


async def test_the_simulated_hospital_connector_is_fhir_too(
    db: Database, hub: ConnectorHub, sim: Sim
) -> None:
    service = await connected_service(
        db,
        connector="simulator:hospital",
        config={"provider_id": "renji"},
        kind=ServiceKind.APPOINTMENT,
        category="medical",
    )
    async with db.unit_of_work() as session:
        hospital = await hub.hospital(session=session, service=service)
    assert len(await hospital.departments()) == 6
    assert sim.requests("hospital/renji") == 1
