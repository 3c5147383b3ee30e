"""Information queries: own records only, once verified and consented; masked; audited;
parameters checked before any provider call; public data cached."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.platform.db import Database
from tests.client import Api
from tests.queries.factories import query_world, resident
from tests.simulators.fixtures import Sim


async def test_a_verified_resident_gets_their_traffic_violations_from_the_provider(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await query_world(db, api)
    person = sim.world.people[0]
    await resident(world.channel, "u-1", person)
    plate = person.plates[0]
    answer = await world.channel.post(
        world.url("traffic-violations"),
        json={"user_id": "u-1", "params": {"plate": plate}},
        expect=200,
    )
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    expected = sim.world.violations("sh-traffic", plate, today)
    assert [r["id"] for r in answer["records"]] == [v["id"] for v in expected]
    assert answer["count"] == len(expected) > 0 and answer["personal"] and not answer["cached"]
    assert answer["records"][0]["fine_fen"] == expected[0]["fine_fen"]
    log = await world.channel.get("/v1/residents/u-1/data-access")
    actors = {(a["actor_type"], a["actor"]) for a in log["items"]}
    assert ("channel", world.login.channel.name) in actors
    assert ("provider", "traffic-violations bureau") in actors
    async with db.unit_of_work() as session:
        audited = (
            await session.scalars(select(AuditEntry).where(AuditEntry.city_id == world.city.id))
        ).all()
    assert any("query traffic-violations" in e.details.get("purpose", "") for e in audited)


async def test_personal_answers_are_masked(api: Api, db: Database, sim: Sim) -> None:
    world = await query_world(db, api)
    person = sim.world.people[4]
    await resident(world.channel, "u-4", person)
    answer = await world.channel.post(
        world.url("social-insurance"), json={"user_id": "u-4"}, expect=200
    )
    record = answer["records"][0]
    assert record["id_number"] == person.id_number[:3] + "*" * 11 + person.id_number[-4:]
    assert record["name"].startswith(person.name[0]) and "*" in record["name"]
    assert person.id_number not in str(answer) and person.name not in str(answer)
    assert isinstance(record["pension_balance_fen"], int)


async def test_another_persons_records_are_forbidden(api: Api, db: Database, sim: Sim) -> None:
    world = await query_world(db, api)
    me, other = sim.world.people[0], sim.world.people[1]
    await resident(world.channel, "u-me", me)
    problem = await world.channel.post(
        world.url("traffic-violations"),
        json={"user_id": "u-me", "params": {"plate": other.plates[0]}},
        expect=403,
    )
    assert problem["code"] == "not_own_records"
    problem = await world.channel.post(
        world.url("social-insurance"),
        json={"user_id": "u-me", "params": {"id_number": other.id_number}},
        expect=403,
    )
    assert problem["code"] == "not_own_records" and problem["field"] == "params.id_number"
    assert sim.requests("social-insurance/sh-si") == 0  # refused before the provider


async def test_an_unverified_resident_is_told_to_verify_and_one_without_consent_to_consent(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await query_world(db, api)
    person = sim.world.people[0]
    await resident(world.channel, "u-new", person, verify=False, consent=False)
    body = {"user_id": "u-new", "params": {"plate": person.plates[0]}}
    problem = await world.channel.post(world.url("traffic-violations"), json=body, expect=403)
    assert problem["code"] == "verification_required" and problem["missing"] == ["verification"]
    assert "/v1/residents/u-new/verification" in problem["detail"]
    await resident(world.channel, "u-2", sim.world.people[3], consent=False)
    body = {"user_id": "u-2", "params": {"plate": sim.world.people[3].plates[0]}}
    problem = await world.channel.post(world.url("traffic-violations"), json=body, expect=403)
    assert problem["code"] == "consent_required" and "records" in problem["detail"]
    missing = {"user_id": "nobody", "params": {"plate": person.plates[0]}}
    await world.channel.post(world.url("traffic-violations"), json=missing, expect=404)
    assert sim.requests("traffic/sh-traffic") == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "params.plate"),
        ({"plate": 12345}, "params.plate"),
        ({"plate": "not a plate"}, "params.plate"),
        ({"plate": "沪A12345", "colour": "blue"}, "params.colour"),
    ],
)
async def test_bad_parameters_are_422_naming_the_parameter_and_reach_no_provider(
    api: Api, db: Database, sim: Sim, params: dict[str, Any], field: str
) -> None:
    world = await query_world(db, api)
    await resident(world.channel, "u-1", sim.world.people[0])
    problem = await world.channel.post(
        world.url("traffic-violations"), json={"user_id": "u-1", "params": params}, expect=422
    )
    assert problem["field"] == field and problem["code"] == "invalid_parameter"
    assert sim.requests("traffic/sh-traffic") == 0


async def test_the_parameter_schema_is_published_for_channels(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await query_world(db, api)
    base = f"/v1/cities/{world.city.slug}/services"
    personal = await world.channel.get(f"{base}/traffic-violations/query-schema")
    assert personal["personal"] and personal["consent_scope"] == "records"
    assert personal["params_schema"]["required"] == ["plate"]
    public = await world.channel.get(f"{base}/air-quality/query-schema")
    assert not public["personal"] and public["consent_scope"] is None
    await world.channel.get(f"{base}/nothing/query-schema", expect=404)


async def test_public_queries_need_no_resident_and_are_cached_briefly(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await query_world(db, api)
    body = {"params": {"district": "浦东新区"}}
    first = await world.channel.post(world.url("air-quality"), json=body, expect=200)
    again = await world.channel.post(world.url("air-quality"), json=body, expect=200)
    assert not first["cached"] and again["cached"] and again["records"] == first["records"]
    assert first["records"][0]["district"] == "浦东新区"
    assert sim.requests("environment/sh-env") == 1
    outages = await world.channel.post(world.url("planned-outages"), json=body, expect=200)
    assert all(o["district"] == "浦东新区" for o in outages["records"])


@pytest.mark.parametrize(
    ("corrupt", "code"),
    [("malformed", "provider_bad_answer"), ("oversized", "provider_answer_too_large")],
)
async def test_a_malformed_or_oversized_answer_is_a_502_problem(
    api: Api, db: Database, sim: Sim, corrupt: str, code: str
) -> None:
    world = await query_world(db, api)
    await resident(world.channel, "u-1", sim.world.people[0])
    sim.set("housing-fund/sh-hf", corrupt=corrupt)
    problem = await world.channel.post(
        world.url("housing-fund"), json={"user_id": "u-1"}, expect=502
    )
    assert problem["code"] == code
