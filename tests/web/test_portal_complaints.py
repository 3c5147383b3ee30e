"""Complaints on the portal: from a paid bill's page, about a service; the resident's list and
a complaint's page (its history, its deadline in the city's time, the answer); their own only;
a refused complaint stores nothing; each step lands in the resident's inbox."""

from __future__ import annotations

import re

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.client import Api
from tests.identity.factories import PASSWORD
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser, Page
from tests.web.helpers import quote, signed_in

__all__ = ["sim", "simulator"]
NEW = "/c/webtown/complaints/new"
NUMBER = re.compile(r"/c/webtown/complaints/(cmp_[0-9a-f]+)$")


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def paid_bill(browser: Browser, world: WebWorld, db: Database, settings: Settings) -> str:
    """The signed-in resident pays a water bill; its page's address."""
    payment_url = await quote(browser, world)
    page = await browser.get(payment_url)
    assert 'data-testid="complain"' not in page.response.text  # nothing charged yet
    await browser.post(payment_url + "/pay", data=page.form(payment_url + "/pay").fields)
    await drain(db, settings)
    return payment_url


async def complain(browser: Browser, url: str, **data: str) -> str:
    """Send the complaint form shown at `url`; the new complaint's number."""
    form = (await browser.get(url)).form(NEW).fields
    answer = await browser.post(NEW, data={**form, **data})
    found = NUMBER.search(answer.response.headers["location"])
    assert found, answer.response.headers["location"]
    return found.group(1)


async def test_a_resident_complains_about_a_payment_and_a_service_and_follows_them(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings, api: Api
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await paid_bill(browser, world, db, settings)
    payment_id = payment_url.rsplit("/", 1)[1]
    paid = await browser.get(payment_url)
    link = f"{NEW}?payment={payment_id}"
    assert f'href="{link}"' in paid.response.text

    form = await browser.get(link)
    assert payment_id in form.text and "金额有误" in form.text
    about_payment = await complain(browser, link, type="wrong_amount", description="A3 多收 42")
    page = await browser.get(f"/c/webtown/complaints/{about_payment}")
    assert "金额有误" in page.text and "处理中" in page.text  # the type, assigned
    assert 'data-testid="complaint-due"' in page.response.text
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}", page.text)  # city time
    assert "已分派给网城自来水公司" in page.text  # the biller, in the resident's language
    assert len(re.findall(r'data-testid="step"', page.response.text)) == 2

    services = await browser.get(NEW)
    assert "电费" in services.text
    about_power = await complain(browser, NEW, service="power", description="停电 3 天")
    mine = await browser.get("/c/webtown/complaints")
    assert mine.text.index(about_power) < mine.text.index(about_payment)  # newest first

    # The biller answers; the resident reads the answer and finds each step in their inbox.
    staff = await api.as_staff(world.admin.username, PASSWORD)
    await staff.post(f"/v1/cities/webtown/complaints/{about_payment}/decision",
                     json={"resolution": "已退 42 元"}, expect=200)  # fmt: skip
    page = await browser.get(f"/c/webtown/complaints/{about_payment}")
    assert "已答复" in page.text and "已退 42 元" in page.text
    assert 'data-testid="complaint-due"' not in page.response.text
    await drain(db, settings)
    inbox = await browser.get("/c/webtown/notices")
    assert f"投诉 {about_payment} 已处理" in inbox.text
    assert f"投诉 {about_power} 已受理" in inbox.text


async def test_a_resident_sees_only_their_own_and_a_refused_complaint_stores_nothing(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await paid_bill(browser, world, db, settings)
    payment_id = payment_url.rsplit("/", 1)[1]
    link = f"{NEW}?payment={payment_id}"
    fields = (await browser.get(link)).form(NEW).fields
    refused: Page = await browser.post(
        NEW, data={**fields, "type": "wrong_amount", "description": " "}, expect=422
    )
    assert 'data-testid="complaint-error"' in refused.response.text
    refused = await browser.post(NEW, data={**fields, "type": "lost", "description": "A3"},
                                 expect=422)  # fmt: skip
    await browser.post(NEW, data={**fields, "csrf_token": "forged"}, expect=403)
    assert "cmp_" not in (await browser.get("/c/webtown/complaints")).text
    mine = await complain(browser, link, type="debited_not_credited", description="A3")

    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])
    await browser.get(f"/c/webtown/complaints/{mine}", expect=404)
    assert mine not in (await browser.get("/c/webtown/complaints")).text
    await browser.get(link, expect=404)  # not their payment
    theirs = (await browser.get(NEW)).form(NEW).fields
    await browser.post(NEW, data={**theirs, "payment_id": payment_id, "type": "paid_twice",
                                  "description": "A3"}, expect=404)  # fmt: skip
    await browser.post(NEW, data={**theirs, "service": "nope", "description": "A3"},
                       expect=404)  # fmt: skip
    assert "cmp_" not in (await browser.get("/c/webtown/complaints")).text
    # Signed out: the pages ask to sign in first.
    browser.client.cookies.clear()
    answer = await browser.get("/c/webtown/complaints", expect=303)
    assert answer.response.headers["location"].startswith("/sign-in")
