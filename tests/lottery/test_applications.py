"""Applications: one per verified person per round, within the window, eligible by the
provider's word; every refusal a clear 4xx naming its cause."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from cityhub.identity.models import DataAccess
from cityhub.lottery.models import LotteryApplication
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import create_channel
from tests.lottery.factories import (
    apply,
    create_round,
    eligible,
    end_window,
    ineligible,
    linked_resident,
    lottery_world,
    resident,
)
from tests.simulators.fixtures import Sim


async def test_a_second_application_by_the_same_person_is_409(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    person = eligible(sim.world, 1)[0]
    await resident(world.channel, "me", person, phone=True)
    first = await apply(world, code, "me")
    problem = await apply(world, code, "me", expect=409)
    assert (problem["code"], problem["field"]) == ("already_applied", "user_id")
    assert problem["application_id"] == first["application_id"]
    # The same person through another of the channel's user ids, once proven, is the same
    # person (knowing the name and number alone makes a separate, unlinked resident).
    await linked_resident(world, sim.control, "me-again", person)
    problem = await apply(world, code, "me-again", expect=409)
    assert problem["code"] == "already_applied"
    # Withdrawn, they may apply again while the window is open: the same application.
    await world.channel.delete(world.url(code, "/applications/me"), expect=200)
    again = await apply(world, code, "me-again")
    assert (again["application_id"], again["status"]) == (first["application_id"], "applied")
    async with db.unit_of_work() as session:
        count = len((await session.scalars(select(LotteryApplication))).all())
    assert count == 1


async def test_an_ineligible_person_gets_422_with_the_providers_reason(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    person = ineligible(sim.world)
    await resident(world.channel, "car-owner", person)
    problem = await apply(world, code, "car-owner", expect=422)
    texts = sim.world.car_lottery_reasons(person)
    reasons = [t["en"] for t in texts]
    assert (problem["code"], problem["field"]) == ("not_eligible", "user_id")
    assert problem["reasons"] == reasons and reasons[0] in problem["detail"]
    assert problem["reason_texts"] == texts  # each reason in the hub's three languages
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(LotteryApplication))).all() == []
        access = (await session.scalars(select(DataAccess))).all()
    # The provider saw the identity number even though the answer was no: that is on record.
    assert any("checked eligibility" in a.purpose and a.actor_type == "provider" for a in access)


async def test_applications_outside_the_window_are_409(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    upcoming = (
        await create_round(
            world,
            opens_at=later.isoformat(),
            closes_at=(later + dt.timedelta(days=7)).isoformat(),
        )
    )["code"]
    await resident(world.channel, "early", eligible(sim.world, 1)[0])
    problem = await apply(world, upcoming, "early", expect=409)
    assert problem["code"] == "round_not_open"
    assert (await api.get(world.url(upcoming)))["phase"] == "upcoming"
    current = (await create_round(world))["code"]
    await end_window(db, current, hub_clock)
    problem = await apply(world, current, "early", expect=409)
    assert problem["code"] == "round_closed"
    assert (await api.get(world.url(current)))["phase"] == "awaiting_close"
    assert sim.requests("vehicle-admin/sh-vehicles") == 0  # refused before the provider


async def test_an_unverified_resident_scope_and_grant_are_checked_first(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    await resident(world.channel, "anon", eligible(sim.world, 1)[0], verify=False)
    problem = await apply(world, code, "anon", expect=403)
    assert (problem["code"], problem["field"]) == ("verification_required", "user_id")
    problem = await apply(world, code, "nobody", expect=404)
    assert problem["code"] == "resident_not_found"
    narrow = await api.as_channel(world.login.client_id, world.login.secret, scope="catalogue:read")
    problem = await narrow.post(
        world.url(code, "/applications"), json={"user_id": "anon"}, expect=403
    )
    assert problem["code"] == "insufficient_scope"
    other = await create_channel(db)
    other_api = await api.as_channel(other.client_id, other.secret)
    problem = await other_api.post(
        world.url(code, "/applications"), json={"user_id": "x"}, expect=403
    )
    assert problem["code"] == "service_not_granted"
    problem = await apply(world, "no-such-round", "anon", expect=404)
    assert problem["code"] == "round_not_found"
    problem = await world.channel.post(world.url(code, "/applications"), json={}, expect=422)
    assert problem["field"] == "user_id"
    assert sim.requests("vehicle-admin/sh-vehicles") == 0


async def test_the_resident_sees_their_application_and_withdraws_it(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    await resident(world.channel, "me", eligible(sim.world, 1)[0])
    problem = await world.channel.get(world.url(code, "/applications/me"), expect=404)
    assert problem["code"] == "application_not_found"
    made = await apply(world, code, "me")
    seen = await world.channel.get(world.url(code, "/applications/me"))
    assert seen == made and seen["failures"] == 0 and seen["result"] is None
    gone = await world.channel.delete(world.url(code, "/applications/me"), expect=200)
    assert gone["status"] == "withdrawn" and gone["withdrawn_at"]
    again = await world.channel.delete(world.url(code, "/applications/me"), expect=200)
    assert again["withdrawn_at"] == gone["withdrawn_at"]


async def test_a_provider_that_does_not_know_the_lottery_is_a_503_not_a_404(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world, kind="school-place"))["code"]
    await resident(world.channel, "me", eligible(sim.world, 1)[0])
    problem = await apply(world, code, "me", expect=503)
    assert problem["code"] == "connector_misconfigured" and "school-place" in problem["detail"]


async def test_racing_applications_of_one_person_make_one_application(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    person = eligible(sim.world, 1)[0]
    await resident(world.channel, "phone", person, phone=True)
    await linked_resident(world, sim.control, "laptop", person)

    async def attempt(user_id: str) -> int:
        response = await world.channel.client.post(
            world.url(code, "/applications"),
            json={"user_id": user_id},
            headers=world.channel.headers,
        )
        assert response.status_code in (201, 409), response.text
        return response.status_code

    statuses = await asyncio.gather(*(attempt(u) for u in ("phone", "laptop") * 3))
    assert sorted(statuses) == [201] + [409] * 5
    async with db.unit_of_work() as session:
        assert len((await session.scalars(select(LotteryApplication))).all()) == 1
