"""What /fhir/r4 says about itself and how it refuses: a CapabilityStatement that lists what
the searches accept (and nothing they refuse), OAuth2 in `rest.security`, and every error an
OperationOutcome with R4's issue type, 4xx for any bad input, never problem+json or a 500."""

from __future__ import annotations

from typing import Any

from cityhub.appointments.fhir import slots
from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, verified_users
from tests.appointments.fhir_client import FHIR, fhir_call, fhir_get, outcome_code
from tests.client import Api

STRICT = {"Prefer": "handling=strict"}
SAMPLES = {"token": "x", "reference": "Practitioner/pr-1", "date": "ge2026-12-02"}


async def test_the_capability_statement_lists_what_searches_accept(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    statement = await fhir_get(api, "/fhir/r4/metadata")
    security = statement["rest"][0]["security"]
    [oauth] = security["extension"]
    assert oauth["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    assert oauth["extension"][0]["url"] == "token"
    assert oauth["extension"][0]["valueUri"].endswith("/v1/oauth/token")
    kinds = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(kinds) == {
        "Schedule", "Slot", "Appointment", "Practitioner", "PractitionerRole",
        "HealthcareService", "Location", "Organization", "Patient",
    }  # fmt: skip
    assert {o["name"] for o in kinds["Appointment"]["operation"]} == {"find", "hold", "book"}
    assert [p["name"] for p in kinds["Slot"]["searchParam"]] == [p.name for p in slots.SLOT_PARAMS]
    # Every listed parameter and include is accepted even under strict handling...
    for kind, resource in kinds.items():
        for param in resource.get("searchParam", []):
            value = "true" if param["name"] == "active" else SAMPLES[param["type"]]
            await fhir_get(
                world.channel, f"/fhir/r4/{kind}", params={param["name"]: value}, headers=STRICT
            )
        for include in resource.get("searchInclude", []):
            await fhir_get(
                world.channel, f"/fhir/r4/{kind}", params={"_include": include}, headers=STRICT
            )
    # ... and one not listed is refused there, and ignored (as R4 says) without it.
    refused = await fhir_get(
        world.channel, "/fhir/r4/Slot", params={"identifier": "x"}, headers=STRICT, expect=400
    )
    assert outcome_code(refused) == ("not-supported", "unknown_param")
    await fhir_get(world.channel, "/fhir/r4/Slot", params={"identifier": "x"})


async def test_every_error_is_an_operation_outcome_and_bad_input_is_4xx(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    ch = world.channel

    async def refused(method: str, url: str, expect: int, **kw: Any) -> tuple[str, str]:
        return outcome_code(await fhir_call(ch, method, url, expect=expect, **kw))

    assert await refused("GET", "/fhir/r4/Nothing/1", 404) == ("not-found", "not_found")
    assert await refused("GET", "/fhir/r4/Slot/sl-none", 404) == ("not-found", "slot_not_found")
    assert await refused("GET", "/fhir/r4/Slot/bad%20id", 400) == ("invalid", "validation_failed")
    answer = await ch.client.delete("/fhir/r4/Slot", headers=ch.headers)
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]
    assert answer.headers["content-type"].startswith(FHIR)
    # The history this server does not keep is not promised, and not found.
    assert (await refused("GET", "/fhir/r4/Appointment/bk-1/_history/1", 404))[0] == "not-found"
    for bad in ({"start": "gt2026-13-45"}, {"_count": "many"}, {"_cursor": "!!"}, {"_total": "x"}):
        code, _ = await refused("GET", "/fhir/r4/Slot", 400, params=bad)
        assert code in ("value", "invalid"), bad
    hdr = {"Content-Type": FHIR}
    deep = "[" * 100_000 + "]" * 100_000
    for body in ("{", deep, '"text"', "[" * 40 + "]" * 40, "{}"):
        code, _ = await refused("POST", "/fhir/r4/Appointment", 400, content=body, headers=hdr)
        assert code in ("structure", "invalid"), body[:10]
    nested: dict[str, Any] = {"resourceType": "Appointment"}
    for _ in range(50):
        nested = {"resourceType": "Appointment", "contained": [nested]}
    assert await refused("POST", "/fhir/r4/Appointment", 400, json=nested) == (
        "structure",
        "json_too_deep",
    )
    weird = {"resourceType": "Appointment", "slot": "x", "participant": [1, {"actor": 2}]}
    assert (await refused("POST", "/fhir/r4/Appointment", 422, json=weird))[1] == "one_slot"
    big = "x" * 1_100_000
    assert (await refused("POST", "/fhir/r4/Appointment", 413, content=big))[0] == "too-long"
    assert (await refused("PATCH", "/fhir/r4/Appointment/bk-x", 404, json=[]))[1] == (
        "booking_not_found"
    )
    # No token: a login issue, still an OperationOutcome.
    unauth = await api.client.get("/fhir/r4/Schedule")
    assert unauth.status_code == 401 and unauth.json()["issue"][0]["code"] == "login"


async def test_the_location_of_a_created_appointment_answers(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    made = await world.session()
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "slot": [{"reference": f"Slot/{made['slots'][0]['id']}"}],
        "participant": [{"actor": {"reference": f"Patient/{user}"}, "status": "accepted"}],
    }
    answer = await world.channel.client.post(
        "/fhir/r4/Appointment", json=body, headers=world.channel.headers
    )
    assert answer.status_code == 201, answer.text
    location = answer.headers["location"]
    assert "_history" not in location
    read = await fhir_get(world.channel, location)
    assert read["id"] == answer.json()["id"] and read["status"] == "booked"
