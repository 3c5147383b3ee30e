"""Paying on the portal when things go wrong: a biller that is down, a quote that expired,
another resident's payment."""

from __future__ import annotations

import pytest

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.billing.factories import quote_expires_at
from tests.browser.world import WebWorld, web_world
from tests.helpers import move_past
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import problem_of, quote, signed_in

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_biller_that_is_down_gets_a_clear_page(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    sim.set("water/sh-water", down=True)

    page = await browser.get("/c/webtown/pay/water?account=123456", expect=503)

    assert problem_of(page) == "provider_unavailable" and "没有产生任何扣款" in page.text
    assert page.form("/c/webtown/pay/water").fields["account"] == "123456"


async def test_an_expired_quote_gets_a_clear_page_and_no_charge(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await quote(browser, world)
    page = await browser.get(payment_url)
    move_past(hub_clock, await quote_expires_at(db, payment_url.rsplit("/", 1)[-1]))

    refused = await browser.post(
        payment_url + "/pay", data=page.form(payment_url + "/pay").fields, expect=409
    )

    assert "报价已过期" in refused.title
    after = await browser.get(payment_url)
    assert 'data-status="expired"' in after.response.text


async def test_another_residents_payment_does_not_exist(
    browser: Browser, sim: Sim, world: WebWorld, app: object
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await quote(browser, world)
    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])

    await browser.get(payment_url, expect=404)


async def test_outside_demo_mode_the_pay_form_offers_no_account(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    page = await browser.get("/c/webtown/pay/water")
    assert 'id="demo-account"' not in page.response.text
