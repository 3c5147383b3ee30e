"""The FHIR R4 interface: resources valid against the R4 models (fhir.resources), the same rules
as /v1, errors as OperationOutcomes, and the `fhirclient` library booking against a running hub."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment as R4Appointment
from fhir.resources.R4B.bundle import Bundle as R4Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule as R4Schedule
from fhir.resources.R4B.slot import Slot as R4Slot

from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, slot_counts, tomorrow, verified_users
from tests.appointments.fhir_client import valid
from tests.client import Api
from tests.outbox_helpers import Hub, eventually

FHIR = "application/fhir+json"


async def _get(api: Api, url: str, expect: int = 200, **kw: Any) -> Any:
    answer = await api.client.get(url, headers=api.headers, **kw)
    assert answer.status_code == expect, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    return answer.json()


async def test_resources_are_valid_r4_and_booking_follows_the_same_rules(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user, other] = await verified_users(db, world.login, 2)
    created = await world.session(places=1, slots=1)
    CapabilityStatement.model_validate(await _get(api, "/fhir/r4/metadata"))
    schedules = R4Bundle.model_validate(await _get(world.channel, "/fhir/r4/Schedule"))
    assert [e.resource.id for e in schedules.entry or []] == [created["id"]]
    R4Schedule.model_validate(await _get(world.channel, f"/fhir/r4/Schedule/{created['id']}"))
    params = [("schedule", f"Schedule/{created['id']}"), ("status", "free")]
    bundle = await _get(world.channel, "/fhir/r4/Slot", params=params)
    R4Bundle.model_validate(bundle)
    [entry] = bundle["entry"]
    slot = R4Slot.model_validate(entry["resource"])
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{slot.id}"}],
        "participant": [{"actor": {"reference": f"Patient/{user}"}, "status": "accepted"}],
    }
    made = await world.channel.client.post(
        "/fhir/r4/Appointment", json=body, headers={**world.channel.headers, "Content-Type": FHIR}
    )
    assert made.status_code == 201, made.text
    appointment = R4Appointment.model_validate(made.json())
    assert appointment.status == "booked"
    assert (await slot_counts(db, slot.id)) == (1, 1)
    # The slot is now busy; booking it again is the same refusal as on /v1, as an outcome.
    busy = await _get(world.channel, f"/fhir/r4/Slot/{slot.id}")
    assert busy["status"] == "busy"
    again = {**body, "participant": [{"actor": {"reference": f"Patient/{other}"}}]}
    refused = await world.channel.client.post(
        "/fhir/r4/Appointment", json=again, headers=world.channel.headers
    )
    assert refused.status_code == 409
    problem = OperationOutcome.model_validate(refused.json())
    assert problem.issue[0].details.coding[0].code == "slot_full"
    found = await _get(world.channel, "/fhir/r4/Appointment", params={"patient": f"Patient/{user}"})
    assert [e["resource"]["id"] for e in found["entry"]] == [appointment.id]
    patch = [{"op": "replace", "path": "/status", "value": "cancelled"}]
    cancelled = await world.channel.client.patch(
        f"/fhir/r4/Appointment/{appointment.id}",
        json=patch,
        headers={**world.channel.headers, "Content-Type": "application/json-patch+json"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert R4Appointment.model_validate(cancelled.json()).status == "cancelled"
    assert (await slot_counts(db, slot.id)) == (0, 1)
    # Another channel sees none of it.
    stranger = await appt_world(db, api, provider_id="elsewhere")
    hidden = await stranger.channel.client.get(
        f"/fhir/r4/Appointment/{appointment.id}", headers=stranger.channel.headers
    )
    assert hidden.status_code == 404
    OperationOutcome.model_validate(hidden.json())
    unauth = await api.client.get("/fhir/r4/Schedule")
    assert unauth.status_code == 401
    OperationOutcome.model_validate(unauth.json())


def _fhirclient_walks_books_and_cancels(
    base: str, token: str, user: str, filters: dict[str, str]
) -> dict[str, Any]:
    """What a FHIR client library does: search the free slots (alone, then with each
    parameter) page by page with their schedules, book the first, read it, cancel it."""
    from fhirclient import client
    from fhirclient.models.appointment import Appointment
    from fhirclient.models.slot import Slot

    smart = client.FHIRClient(settings={"app_id": "cityhub-test", "api_base": base})
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    search = Slot.where(struct={"status": "free", "_count": "2"}).include("schedule")
    found = list(search.perform_resources_iter(smart.server))
    for resource in found:
        valid(resource.as_json())
    slots = [r.id for r in found if r.resource_type == "Slot"]
    schedules = {r.id for r in found if r.resource_type == "Schedule"}
    narrowed = {
        name: [
            r.id
            for r in Slot.where(struct={"status": "free", name: value}).perform_resources_iter(
                smart.server
            )
        ]
        for name, value in filters.items()
    }
    appointment = Appointment(
        {
            "status": "booked",
            "slot": [{"reference": f"Slot/{slots[0]}"}],
            "participant": [{"actor": {"reference": f"Patient/{user}"}, "status": "accepted"}],
        }
    )
    created = appointment.create(smart.server)
    booked = Appointment.read(created["id"], smart.server)
    booked_status = booked.status
    booked.status = "cancelled"
    booked.update(smart.server)
    cancelled = Appointment.read(created["id"], smart.server)
    return {
        "slots": slots,
        "schedules": schedules,
        "narrowed": narrowed,
        "booked": booked_status,
        "slot": booked.slot[0].reference,
        "cancelled": cancelled.status,
    }


@pytest.mark.slow
async def test_fhirclient_walks_slots_books_and_cancels_against_a_running_hub(
    api: Api, db: Database, tmp_path: Path
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    day2 = tomorrow() + dt.timedelta(days=1)
    first = await world.session(places=3, slots=3, department="internal")
    second = await world.session(places=2, slots=2, department="surgery", day=day2)
    one = [s["id"] for s in first["slots"]]
    two = [s["id"] for s in second["slots"]]
    schedule = await _get(world.channel, f"/fhir/r4/Schedule/{second['id']}")
    doctor = schedule["actor"][0]["reference"]
    filters = {
        "schedule": f"Schedule/{first['id']}",
        "start": f"ge{day2}",
        "service-type": "surgery",
        "specialty": "urn:cityhub:department|internal",
        "schedule.actor": doctor,
    }
    hub = Hub(db.url, tmp_path)
    hub.start("serve")
    base = f"http://127.0.0.1:{hub.port}"
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False) as http:

            async def up() -> bool:
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=30, what=hub.output)
            token = await http.post(
                "/v1/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": world.login.client_id,
                    "client_secret": world.login.secret,
                },
            )
            assert token.status_code == 200, token.text
        seen = await asyncio.to_thread(
            _fhirclient_walks_books_and_cancels,
            f"{base}/fhir/r4/",
            token.json()["access_token"],
            user,
            filters,
        )
    finally:
        hub.stop()
    assert seen["slots"] == one + two  # five slots on three pages of two, to the end
    assert seen["schedules"] == {first["id"], second["id"]}
    assert seen["narrowed"] == {
        "schedule": one,
        "start": two,
        "service-type": two,
        "specialty": one,
        "schedule.actor": two,
    }
    assert seen["booked"] == "booked"
    assert seen["slot"] == f"Slot/{one[0]}"
    assert seen["cancelled"] == "cancelled"
    assert (await slot_counts(db, one[0])) == (0, 1)
