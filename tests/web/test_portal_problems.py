"""Errors that say what to do: each problem a resident meets is said on the page where it
happened, in the reader's language, with a next step and the form still filled in; not the
generic error page."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from cityhub.web.models import ResidentSession
from tests.browser.world import WebWorld, web_world
from tests.helpers import move_past
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser, Page
from tests.web.helpers import problem_of, signed_in, verify

__all__ = ["sim", "simulator"]
PAY = "/c/webtown/pay/water"
TRAFFIC = "/c/webtown/query/traffic-violations"
FUND = "/c/webtown/query/housing-fund"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


def in_language(browser: Browser, lang: str) -> None:
    browser.client.cookies.set("cityhub_lang", lang)


def said(page: Page, code: str, *words: str) -> None:
    """The page names the problem and says it (and what to do) in these words."""
    assert problem_of(page) == code, page.text
    assert all(w in page.text for w in words), page.text
    assert "错误代码" not in page.text and "Error 4" not in page.text  # not the error page


async def test_an_account_the_biller_does_not_know_or_cannot_be_one(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    unknown = await browser.get(f"{PAY}?account=0000000000", expect=404)
    said(unknown, "account_not_found", "缴费单位查不到这个户号", "纸质账单")
    assert unknown.form(PAY).fields["account"] == "0000000000"

    in_language(browser, "en")
    malformed = await browser.get(f"{PAY}?account=12+34!", expect=422)
    said(malformed, "invalid_account", "not an account number", "paper bill")
    assert malformed.form(PAY).fields["account"] == "12 34!"

    in_language(browser, "zh-Hant")
    again = await browser.get(f"{PAY}?account=0000000000", expect=404)
    said(again, "account_not_found", "繳費單位查不到這個戶號", "紙本帳單")


async def test_a_bill_that_changed_is_said_on_the_bills_page(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    bill = world.unpaid("water")
    page = await browser.get(f"{PAY}?account={bill.account}")
    form = next(f for f in page.forms if f.fields.get("bill_id") == bill.bill_id)
    assert form.fields["account"] == bill.account  # the account goes with the Pay form
    wrong = {**form.fields, "amount_fen": str(bill.amount_fen + 100)}
    refused = await browser.post(PAY, data=wrong, expect=422)
    said(refused, problem_of(refused) or "", "重新查询")
    assert problem_of(refused) in ("amount_mismatch", "amount_above_bill", "wrong_amount")
    assert refused.form(PAY).fields["account"] == bill.account
    # Nothing was quoted: the resident's payments are empty.
    assert "payments/pm" not in (await browser.get("/c/webtown/payments")).response.text


async def test_someone_elses_plate_and_an_unknown_plate(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    me = sim.world.people[0]
    await verify(browser, me, TRAFFIC)
    form = (await browser.get(TRAFFIC)).form(TRAFFIC).fields | {"consent": "yes"}
    other = next(p for p in sim.world.people[1:] if p.plates).plates[0]
    refused = await browser.post(TRAFFIC, data={**form, "p_plate": other}, expect=403)
    said(refused, "owner_mismatch", "这个号牌号码不在您的名下", "证件")
    assert refused.form(TRAFFIC).fields["p_plate"] == other

    in_language(browser, "en")
    nobody = await browser.post(TRAFFIC, data={**form, "p_plate": "沪Z99999"}, expect=404)
    said(nobody, "plate_not_found", "No vehicle is registered", "registration certificate")
    assert nobody.form(TRAFFIC).fields["p_plate"] == "沪Z99999"


async def test_a_person_the_housing_fund_does_not_know(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    person = next(p for p in sim.world.people if not sim.world.has_housing_fund(p))
    await signed_in(browser, sim, world.phones[0])
    await verify(browser, person, FUND)
    form = (await browser.get(FUND)).form(FUND).fields | {"consent": "yes"}
    unknown = await browser.post(FUND, data=form, expect=404)
    said(unknown, "depositor_not_found", "公积金中心查不到您名下的账户", "单位")
    assert person.id_number not in unknown.response.text


async def test_a_session_that_ended_says_so_and_comes_back(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    await signed_in(browser, sim, world.phones[0])
    async with db.unit_of_work() as session:
        ends = await session.scalar(select(ResidentSession.expires_at))
    assert isinstance(ends, dt.datetime)
    move_past(hub_clock, ends)

    sent = await browser.get(f"{PAY}?account=123", expect=303)
    location = sent.response.headers["location"]
    assert location == "/sign-in?next=/c/webtown/pay/water%3Faccount%3D123&reason=session_expired"
    page = await browser.get(location)
    said(page, "session_expired", "您的登录已过期", "重新登录")
    assert page.form("/sign-in/code").fields["next"] == "/c/webtown/pay/water?account=123"
    # A stranger who never signed in is sent to sign in without being told of an ending.
    browser.client.cookies.clear()
    fresh = await browser.get(f"{PAY}?account=123", expect=303)
    assert "reason=" not in fresh.response.headers["location"]


async def test_a_provider_that_is_down_keeps_the_form_and_says_try_later(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    air = "/c/webtown/query/air-quality"
    in_language(browser, "zh-Hant")
    form = (await browser.get(air)).form(air).fields
    sim.set("environment/sh-env", down=True)
    down = await browser.post(air, data={**form, "p_district": "黃浦區"}, expect=503)
    said(down, "provider_unavailable", "暫時沒有回應", "請過幾分鐘再試")
    assert down.form(air).fields["p_district"] == "黃浦區"
