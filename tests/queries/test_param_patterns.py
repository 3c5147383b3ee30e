"""The patterns of a query's parameter schema are written by the city: they run on a
linear-time engine, and what cannot run there is refused when the schema is written."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff
from tests.platform.deadline import bounded
from tests.queries.factories import query_world
from tests.simulators.fixtures import Sim


def _config(district: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"district": district}, "required": ["district"]}
    return {"provider_id": "sh-env", "query": "air_quality", "params_schema": schema}


async def test_a_parameter_pattern_that_backtracks_answers_at_once(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await query_world(db, api)
    member = await create_staff(db, city=world.city, role=Role.CITY_ADMIN)
    admin = await api.as_staff(member.username, PASSWORD)
    config = _config({"type": "string", "pattern": "^([a-z]+)+$"})
    service_url = f"/v1/cities/{world.city.slug}/services/air-quality"
    await admin.patch(service_url, json={"connector_config": config})
    with bounded(20, "a query against a catastrophic pattern"):
        problem = await world.channel.post(
            world.url("air-quality"), json={"params": {"district": "a" * 40 + "!"}}, expect=422
        )
    assert (problem["code"], problem["field"]) == ("invalid_parameter", "params.district")


@pytest.mark.parametrize(
    ("district", "field"),
    [
        ({"type": "string", "pattern": r"^(?=x)\w+$"}, "properties.district.pattern"),
        (
            {"type": "object", "patternProperties": {"^(a+)+$": {"type": "string"}}},
            "properties.district.patternProperties",
        ),
        ({"type": "string", "pattern": "("}, "properties.district.pattern"),
    ],
)
async def test_a_parameter_pattern_the_engine_cannot_run_is_refused_when_written(
    api: Api, db: Database, district: dict[str, Any], field: str
) -> None:
    world = await query_world(db, api)
    member = await create_staff(db, city=world.city, role=Role.CITY_ADMIN)
    admin = await api.as_staff(member.username, PASSWORD)
    service_url = f"/v1/cities/{world.city.slug}/services/air-quality"
    problem = await admin.patch(
        service_url, json={"connector_config": _config(district)}, expect=422
    )
    assert problem["field"] == f"connector_config.params_schema.{field}", problem
    shown = await admin.get(service_url)
    assert "params_schema" not in shown["connector_config"]  # nothing half-written
