"""A campaign for the low-income list: the simulated civil affairs bureau is asked over real
HTTP, the access is on the person's record, and only people on its list claim."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.cities.models import ServiceKind
from cityhub.identity.models import DataAccess
from cityhub.platform.db import Database
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.simulators.fixtures import Sim
from tests.subsidies.factories import campaign_row, resident_of, subsidy_world


async def test_only_people_on_the_low_income_list_claim(api: Api, db: Database, sim: Sim) -> None:
    world = await subsidy_world(db, api, sim, channels=1)
    await connected_service(
        db, city=world.pay.city, code="civil-affairs", connector="simulator:civil-affairs",
        config={"provider_id": "sh-civil"}, kind=ServiceKind.QUERY, provider="civil affairs",
    )  # fmt: skip
    on = next(p for p in sim.world.people if sim.world.low_income(p))
    off = next(p for p in sim.world.people if not sim.world.low_income(p))
    poor = await resident_of(world, on.id_number, "poor")
    other = await resident_of(world, off.id_number, "other")
    code = (
        await world.campaign(eligibility_service="civil-affairs", eligibility_list="low-income")
    )["code"]
    problem = await world.claim(code, other, expect=422)
    assert (problem["code"], problem["field"]) == ("not_eligible", "user_id")
    assert problem["reasons"] == ["not on the city's low-income (minimum living allowance) list"]
    made = await world.claim(code, poor)
    assert made["status"] == "reserved"
    assert sim.requests("civil-affairs/sh-civil") == 2
    assert (await campaign_row(db, code)).left_fen == 4500
    async with db.unit_of_work() as session:
        purposes = list((await session.scalars(select(DataAccess.purpose))).all())
    assert len([p for p in purposes if "low-income" in p]) == 2  # asked for both, on record
    wrong = await world.campaign(eligibility_service="civil-affairs", eligibility_list="x")
    problem = await world.claim(wrong["code"], poor, expect=503)
    assert problem["code"] == "connector_misconfigured"
