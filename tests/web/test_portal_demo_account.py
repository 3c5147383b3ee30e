"""In demo mode the pay form offers an account the simulated biller knows (the visitor's own
when they are a demo person); anywhere else it offers nothing."""

from __future__ import annotations

import pytest

from cityhub.demo.loader import SEED
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer, World
from tests.browser.world import web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url).model_copy(update={"env": "demo"})


async def test_the_pay_form_offers_a_demo_account_that_has_bills(
    browser: Browser, sim: Sim, db: Database
) -> None:
    await web_world(db, sim)
    person = World(SEED).people[3]  # a demo person signs in with their own phone
    await signed_in(browser, sim, person.phone)
    page = await browser.get("/c/webtown/pay/water")
    offered = page.response.text.split('data-testid="demo-account">')[1].split("<")[0]
    assert offered == sim.world.account_of("water", "sh-water", person)
    bills = await browser.get(f"/c/webtown/pay/water?account={offered}")
    assert [f for f in bills.forms if f.fields.get("bill_id", "").startswith(offered)]


async def test_a_visitor_who_is_no_demo_person_is_offered_the_first_ones_account(
    browser: Browser, sim: Sim, db: Database
) -> None:
    world = await web_world(db, sim)
    assert world.phones[0] not in {p.phone for p in World(SEED).people}
    await signed_in(browser, sim, world.phones[0])
    page = await browser.get("/c/webtown/pay/water")
    first = World(SEED).people[0]
    assert f">{sim.world.account_of('water', 'sh-water', first)}<" in page.response.text
