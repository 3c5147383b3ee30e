"""Paying on the portal when things go wrong: a biller that is down, a quote that expired,
another resident's payment."""

from __future__ import annotations

import pytest

from cityhub.billing import terms
from cityhub.billing.enums import AmountRule
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.money import plain_major
from cityhub.simulators import RunningServer
from tests.billing.factories import quote_expires_at
from tests.browser.world import WebWorld, web_world
from tests.helpers import move_past
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import problem_of, quote, signed_in
from tests.web.languages import foreign

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


async def test_a_part_paid_bill_shows_what_is_paid_and_what_remains_in_each_language(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    async with db.unit_of_work() as session:
        await terms.save(
            session=session,
            city_id=world.city.id,
            service_id=world.services["power"].id,
            terms=terms.Terms(amount_rule=AmountRule.PARTIAL, min_fen=1_000, multiple_fen=100),
        )
    bill = world.unpaid("power")
    # Part of it was paid at the power company's counter (its terms take parts).
    counter = {"payment_id": "counter-1", "account": bill.account, "bill_id": bill.bill_id,
               "amount_fen": 1_000}  # fmt: skip
    sim.control.post("/power/sh-power/payments", json=counter).raise_for_status()
    await signed_in(browser, sim, world.phones[0])
    words = {"zh-Hans": ("部分已缴", "尚欠金额"), "zh-Hant": ("部分已繳", "尚欠金額"),
             "en": ("Partially paid", "Remaining")}  # fmt: skip
    for lang, (status, remaining) in words.items():
        browser.client.cookies.set("cityhub_lang", lang)
        page = await browser.get(f"/c/webtown/pay/power?account={bill.account}")
        assert foreign(page.response.text) == []
        before = page.response.text.split(f'value="{bill.bill_id}"')[0]
        item = before.rsplit('data-testid="bill"')[-1]  # this bill's part of the page
        assert 'data-status="partially_paid"' in item and status in item and remaining in item
    form = next(f for f in page.forms if f.fields.get("bill_id") == bill.bill_id)
    # The terms take parts: the amount field holds what remains, in yuan.
    assert form.fields["amount"] == plain_major(bill.amount_fen - 1_000)
    quoted = await browser.post("/c/webtown/pay/power", data=form.fields, expect=303)
    assert "/payments/" in quoted.response.headers["location"]
