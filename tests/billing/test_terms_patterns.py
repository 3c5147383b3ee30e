"""A biller's account format is a pattern the city writes: it runs on a linear-time engine, so
no pattern can stall the hub, and what only a backtracking engine runs is refused at write."""

from __future__ import annotations

import pytest

from cityhub.platform.db import Database
from tests.billing.factories import pay_world
from tests.client import Api
from tests.platform.deadline import bounded
from tests.simulators.fixtures import Sim

EVIL = r"^([0-9]+)+$"  # exponential on a backtracking engine for "111...1x"


async def test_a_pattern_that_backtracks_for_ever_answers_a_look_up_at_once(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    staff = await world.staff()
    terms = world.url("/services/water/biller-terms")
    saved = await staff.call("PUT", terms, json={"account_pattern": EVIL}, expect=200)
    assert saved["account_pattern"] == EVIL
    with bounded(20, "a look-up against a catastrophic pattern"):
        problem = await world.channel.get(
            world.url("/services/water/bills"), params={"account": "1" * 40 + "x"}, expect=422
        )
    assert (problem["code"], problem["field"]) == ("invalid_account", "account")
    [bill] = world.unpaid("water")
    assert bill.account.isdigit()
    found = await world.look_up(bill)  # the pattern still means what it says
    assert found["bills"]
    await staff.client.aclose()


@pytest.mark.parametrize(
    "pattern",
    [r"^(\d)\1$", r"^(?=\d{10}$)\d+$", r"^(?<!x)\d+$", r"^(?P<a>\d)(?P=a)$"],
)
async def test_a_pattern_only_a_backtracking_engine_runs_is_refused_naming_the_field(
    api: Api, db: Database, sim: Sim, pattern: str
) -> None:
    world = await pay_world(db, api, sim)
    staff = await world.staff()
    problem = await staff.call(
        "PUT",
        world.url("/services/water/biller-terms"),
        json={"account_pattern": pattern},
        expect=422,
    )
    assert problem["field"] == "account_pattern"
    assert "not supported" in problem["detail"]
    shown = await world.channel.get(world.url("/services/water/biller-terms"))
    assert shown["stored"] is False  # nothing half-written
    await staff.client.aclose()
