"""Schedules synced from the simulated FHIR hospital over real HTTP, and bookings of synced
slots told to the hospital's own system."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cityhub.appointments.models import Booking, Slot
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, verified_users
from tests.client import Api
from tests.outbox_helpers import drain, invoke
from tests.simulators.fixtures import Sim


async def test_sync_brings_the_hospitals_sessions_and_bookings_reach_it(
    api: Api, db: Database, sim: Sim, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await appt_world(db, api, provider_id="ruijin")
    [user] = await verified_users(db, world.login, 1)
    synced = await world.staff.post(
        world.url("/sync"), params={"hospital": world.hospital.code, "days": 3}, expect=200
    )
    assert synced["slots_added"] > 0 and synced["practitioners"] > 0
    again = await world.staff.post(
        world.url("/sync"), params={"hospital": world.hospital.code, "days": 3}, expect=200
    )
    assert again["slots_added"] == 0  # a second sync adds nothing
    sessions = await world.channel.get(world.url("/sessions"), params={"limit": 100})
    # The hospital's FHIR translations of departments and titles were kept.
    first = sessions["items"][0]
    assert set(first["department_names"]) == {"zh-Hans", "zh-Hant", "en"}
    assert first["department_names"]["zh-Hans"] == first["department_name"]
    assert set(first["practitioner_titles"]) == {"zh-Hans", "zh-Hant", "en"}
    free = next(s for session in sessions["items"] for s in session["slots"] if s["left"] == 1)
    booking = await world.book(user, free["id"])
    await drain(db, settings)
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Booking).where(Booking.public_id == booking["id"]))
        slot = await session.scalar(select(Slot).where(Slot.public_id == free["id"]))
    assert row is not None and row.hospital_ref and row.hospital_ref.startswith("appt-")
    assert slot is not None and slot.external_id
    there = sim.control.get(f"/hospital/ruijin/fhir/Appointment/{row.hospital_ref}").json()
    assert there["status"] == "booked"
    assert there["slot"] == [{"reference": f"Slot/{slot.external_id}"}]
    # Cancelling here cancels there too: the hospital's slot is free again.
    await world.channel.post(world.url(f"/bookings/{booking['id']}/cancellation"), expect=200)
    await drain(db, settings)
    there = sim.control.get(f"/hospital/ruijin/fhir/Appointment/{row.hospital_ref}").json()
    assert there["status"] == "cancelled"
    monkeypatch.setenv("CITYHUB_SIMULATOR_URL", sim.url)
    monkeypatch.setenv("CITYHUB_CONNECTOR_ALLOW_HOSTS", "127.0.0.1")
    code, output = await invoke(
        db.url, "appointments", "sync", "--city", world.city.slug, "--days", "2"
    )
    assert code == 0, output
    assert f"{world.hospital.code}:" in output and "0 slots added" in output


async def test_a_synced_session_has_its_departments_registration_fee(
    api: Api, db: Database, sim: Sim
) -> None:
    fees = {"pediatrics": 1000, "dental": 2000}
    world = await appt_world(
        db, api, provider_id="fees", registration_fee_fen=500, registration_fees_fen=fees
    )
    await world.staff.post(
        world.url("/sync"), params={"hospital": world.hospital.code, "days": 2}, expect=200
    )
    sessions = (await world.channel.get(world.url("/sessions"), params={"limit": 100}))["items"]
    by_department = {s["department"]: s["fee_fen"] for s in sessions}
    assert by_department["pediatrics"] == 1000 and by_department["dental"] == 2000
    assert by_department["surgery"] == 500  # no fee of its own: the hospital's
