"""The Argonaut scheduling operations: `$find` proposes free times matching a practitioner, a
specialty, a location and a period; `$hold` holds one (`pending`, the place taken); `$book`
confirms a hold or books at once; all on the same fair booking as /v1."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.appointments.factories import (
    appt_world,
    expire_now,
    slot_counts,
    status_of,
    tomorrow,
    verified_users,
)
from tests.appointments.fhir_client import fhir_call, fhir_get, next_link, outcome_code
from tests.client import Api
from tests.outbox_helpers import drain


def _parameters(appointment: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Parameters",
        "parameter": [{"name": "appt-resource", "resource": appointment}],
    }


def _slots(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["slot"][0]["reference"] for e in bundle.get("entry") or []]


async def test_find_proposes_free_times_matching_the_inputs(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    day1, day2 = tomorrow(), tomorrow() + dt.timedelta(days=1)
    internal = await world.session(places=3, slots=3, day=day1, department="internal")
    surgery = await world.session(places=1, slots=1, day=day2, department="surgery")
    await world.book(user, internal["slots"][0]["id"])
    free_internal = [f"Slot/{s['id']}" for s in internal["slots"][1:]]
    url = "/fhir/r4/Appointment/$find"
    everything = await fhir_get(world.channel, url)
    assert _slots(everything) == [*free_internal, f"Slot/{surgery['slots'][0]['id']}"]
    proposal = everything["entry"][0]["resource"]
    assert proposal["status"] == "proposed"
    doctor = proposal["participant"][0]["actor"]["reference"]
    found = await fhir_get(
        world.channel,
        url,
        params={"provider": doctor, "start": f"{day1}", "end": f"{day2}", "specialty": "internal"},
    )
    assert _slots(found) == free_internal
    assert _slots(await fhir_get(world.channel, url, params={"visit-type": "surgery"})) == [
        f"Slot/{surgery['slots'][0]['id']}"
    ]
    assert _slots(await fhir_get(world.channel, url, params={"start": f"{day2}"})) == [
        f"Slot/{surgery['slots'][0]['id']}"
    ]
    # The same as a Parameters body, and paged by next links.
    posted = await fhir_call(
        world.channel,
        "POST",
        url,
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "provider", "valueReference": {"reference": doctor}},
                {"name": "start", "valueDateTime": f"{day1}T00:00:00+08:00"},
            ],
        },
    )
    assert _slots(posted) == free_internal
    page = await fhir_get(world.channel, url, params={"_count": 1, "specialty": "internal"})
    seen = _slots(page)
    while (link := next_link(page)) is not None:
        page = await fhir_get(world.channel, link)
        seen += _slots(page)
    assert seen == free_internal


async def test_hold_then_book_and_book_at_once(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [ann, bob] = await verified_users(db, world.login, 2)
    made = await world.session(places=2, slots=2)
    [first, second] = [s["id"] for s in made["slots"]]
    proposed = await fhir_get(world.channel, "/fhir/r4/Appointment/$find")
    offer = dict(proposed["entry"][0]["resource"])
    offer["participant"] = [
        *offer["participant"],
        {"actor": {"reference": f"Patient/{ann}"}, "status": "accepted"},
    ]
    held = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$hold", json=_parameters(offer)
    )
    appointment = held["entry"][0]["resource"]
    assert appointment["status"] == "pending"
    assert await slot_counts(db, first) == (1, 1)  # the place is taken while held
    busy = await fhir_get(world.channel, f"/fhir/r4/Slot/{first}")
    assert busy["status"] == "busy"
    booked = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$book", json=_parameters(appointment)
    )
    assert booked["entry"][0]["resource"]["status"] == "booked"
    assert (await status_of(db, appointment["id"])).value == "booked"
    # Booking again what is booked changes nothing.
    again = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$book", json=_parameters(appointment)
    )
    assert again["entry"][0]["resource"]["id"] == appointment["id"]
    # A proposed Appointment with its patient is booked at once; the same rules apply.
    direct = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{second}"}],
        "participant": [{"actor": {"reference": f"Patient/{bob}"}, "status": "accepted"}],
    }
    now = await fhir_call(world.channel, "POST", "/fhir/r4/Appointment/$book", json=direct)
    assert now["entry"][0]["resource"]["status"] == "booked"
    full = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$hold", json=_parameters(direct), expect=409
    )
    assert outcome_code(full) == ("conflict", "slot_full")
    missing = await fhir_call(
        world.channel,
        "POST",
        "/fhir/r4/Appointment/$hold",
        json={"resourceType": "Parameters", "parameter": [{"name": "other"}]},
        expect=422,
    )
    assert outcome_code(missing)[1] == "missing_parameter"


async def test_a_hold_for_a_fee_is_booked_by_its_payment_not_by_book(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    made = await world.session(places=1, slots=1, fee_fen=500)
    offer = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{made['slots'][0]['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{user}"}, "status": "accepted"}],
    }
    held = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$hold", json=_parameters(offer)
    )
    appointment = held["entry"][0]["resource"]
    assert appointment["status"] == "pending"
    assert appointment["extension"][0]["url"] == "urn:cityhub:fee-payment"
    refused = await fhir_call(
        world.channel,
        "POST",
        "/fhir/r4/Appointment/$book",
        json=_parameters(appointment),
        expect=409,
    )
    assert outcome_code(refused) == ("conflict", "fee_unpaid")
    assert (await status_of(db, appointment["id"])).value == "held"


async def test_a_hold_not_booked_in_time_is_let_go(
    api: Api, db: Database, settings: Settings, hub_clock: Clock
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    made = await world.session(places=1, slots=1)
    slot = made["slots"][0]["id"]
    offer = {
        "resourceType": "Appointment",
        "status": "proposed",
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": f"Patient/{user}"}, "status": "accepted"}],
    }
    held = await fhir_call(
        world.channel, "POST", "/fhir/r4/Appointment/$hold", json=_parameters(offer)
    )
    appointment = held["entry"][0]["resource"]
    await expire_now(db, appointment["id"], hub_clock)
    await drain(db, settings)
    assert (await status_of(db, appointment["id"])).value == "expired"
    assert await slot_counts(db, slot) == (0, 1)
    late = await fhir_call(
        world.channel,
        "POST",
        "/fhir/r4/Appointment/$book",
        json=_parameters(appointment),
        expect=409,
    )
    assert outcome_code(late) == ("conflict", "hold_closed")
