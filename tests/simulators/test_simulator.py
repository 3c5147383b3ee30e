"""The simulators behave like municipal systems over real HTTP, the same for the same seed."""

from __future__ import annotations

import datetime as dt

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from cityhub.simulators import World
from tests.simulators.fixtures import SEED, Sim


def test_the_world_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    one, again, other = World(SEED), World(SEED), World(SEED + 1)
    assert [p.id_number for p in one.people] == [p.id_number for p in again.people]
    assert one.people[0] != other.people[0]
    assert len(one.by_id) == len(one.people)  # identity numbers are unique
    assert all(one.by_plate[plate] is p for p in one.people for plate in p.plates)
    first = one.people[0]
    assert first.plates and one.violations("sh", first.plates[0], dt.date(2025, 6, 1))


def test_bills_payment_is_idempotent_by_our_id_and_reversal_and_statement_follow(sim: Sim) -> None:
    person = sim.world.people[3]
    account = sim.world.account_of("water", "sh-water", person)
    bills = sim.control.get(f"/water/sh-water/accounts/{account}/bills").json()["bills"]
    unpaid = next(b for b in bills if b["status"] == "unpaid")
    payment = {
        "payment_id": "pay-1",
        "account": account,
        "bill_id": unpaid["id"],
        "amount_fen": unpaid["amount_fen"],
    }
    first = sim.control.post("/water/sh-water/payments", json=payment)
    again = sim.control.post("/water/sh-water/payments", json=payment)
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    other = sim.control.post("/water/sh-water/payments", json={**payment, "amount_fen": 1})
    assert other.status_code == 409 and other.json()["error"] == "payment_id_reused"
    paid = sim.control.get(f"/water/sh-water/accounts/{account}/bills").json()["bills"]
    assert next(b for b in paid if b["id"] == unpaid["id"])["status"] == "paid"
    reversed_ = sim.control.post("/water/sh-water/payments/pay-1/reversal", json={})
    assert reversed_.json()["status"] == "reversed"
    day = dt.datetime.fromisoformat(first.json()["accepted_at"]).astimezone(
        dt.timezone(dt.timedelta(hours=8))
    )
    lines = sim.control.get(f"/water/sh-water/statements/{day.date()}").json()["lines"]
    assert [(ln["kind"], ln["amount_fen"]) for ln in lines] == [
        ("payment", unpaid["amount_fen"]),
        ("reversal", unpaid["amount_fen"]),
    ]
    assert sim.control.get("/water/sh-water/accounts/000/bills").status_code == 404


def test_traffic_police_answer_only_the_registered_owner(sim: Sim) -> None:
    owner, stranger = sim.world.people[0], sim.world.people[1]
    plate = owner.plates[0]
    mine = sim.control.get(
        "/traffic/sh/violations", params={"plate": plate, "owner_id_number": owner.id_number}
    )
    assert mine.status_code == 200 and mine.json()["violations"]
    theirs = sim.control.get(
        "/traffic/sh/violations", params={"plate": plate, "owner_id_number": stranger.id_number}
    )
    assert theirs.status_code == 403 and theirs.json()["error"] == "owner_mismatch"


def test_control_api_sets_outage_errors_latency_and_counts_requests(sim: Sim) -> None:
    person = sim.world.people[0]
    path = f"/social-insurance/sh/accounts/{person.id_number}"
    assert sim.control.get(path).json()["id_number"] == person.id_number
    sim.set("social-insurance/sh", down=True)
    assert sim.control.get(path).status_code == 503
    sim.set("social-insurance/sh", down=False, error_rate=1.0)
    assert sim.control.get(path).status_code == 500
    sim.set("social-insurance/sh", error_rate=0.0, corrupt="malformed")
    answer = sim.control.get(path)
    assert answer.status_code == 200 and answer.text.endswith('"amount_fen": ')
    assert sim.requests("social-insurance/sh") == 4
    assert sim.requests("housing-fund/sh") == 0  # another provider is untouched
    bad = sim.control.put("/_control/providers/water/x", json={"error_rate": 2})
    assert bad.status_code == 422


def test_hospital_speaks_valid_fhir_r4(sim: Sim) -> None:
    base = "/hospital/ruijin/fhir"
    capability = sim.control.get(f"{base}/metadata").json()
    CapabilityStatement.model_validate(capability)
    for path, params in (
        ("/HealthcareService", {}),
        ("/PractitionerRole", {"service": "HealthcareService/internal"}),
        ("/Practitioner", {}),
        ("/Schedule", {"actor": "Practitioner/internal-1"}),
        ("/Slot", {"schedule": "Schedule/sched-internal-1", "status": "free"}),
    ):
        answer = sim.control.get(base + path, params=params)
        assert answer.headers["content-type"].startswith("application/fhir+json")
        bundle = Bundle.model_validate(answer.json())
        assert bundle.entry, path
    slots = sim.control.get(
        f"{base}/Slot", params={"schedule": "Schedule/sched-internal-1", "status": "free"}
    ).json()["entry"]
    assert all(e["resource"]["status"] == "free" for e in slots)


def test_the_population_registry_says_yes_only_for_a_name_with_its_number(sim: Sim) -> None:
    listed = sim.control.get("/population-registry/sh-registry/people", params={"limit": 3})
    people = listed.json()["people"]
    assert [p["id_number"] for p in people] == [p.id_number for p in sim.world.people[:3]]
    first, second = sim.world.people[0], sim.world.people[1]

    def check(**body: str) -> dict[str, str]:
        answer = sim.control.post("/population-registry/sh-registry/checks", json=body)
        assert answer.status_code == 200
        result: dict[str, str] = answer.json()
        return result

    token = people[0]["liveness_token"]
    assert check(name=first.name, id_number=first.id_number) == {
        "match": True,
        "liveness": "not_checked",
    }
    assert check(name=second.name, id_number=first.id_number)["match"] is False
    assert (
        check(name=first.name, id_number=first.id_number, liveness_token=token)["liveness"]
        == "passed"
    )
    other = sim.world.liveness_token(second)
    assert (
        check(name=first.name, id_number=first.id_number, liveness_token=other)["liveness"]
        == "failed"
    )
