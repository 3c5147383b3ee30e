"""The portal claims like any channel: a verified resident claims a campaign once; a second
claim, here or through another app, is refused on the page."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.identity import audit
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from cityhub.simulators import RunningServer
from cityhub.subsidies import service
from cityhub.subsidies.schemas import CampaignCreate
from tests.browser.world import WebWorld, web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.subsidies.factories import campaign_row
from tests.web.browser import Browser
from tests.web.conftest import browser
from tests.web.helpers import signed_in, verify

__all__ = ["browser", "sim", "simulator"]
PAGE = "/c/webtown/subsidies"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_verified_resident_claims_once_on_the_portal(
    db: Database, sim: Sim, world: WebWorld, browser: Browser
) -> None:
    now = utcnow()
    async with db.unit_of_work() as session:
        await service.create(
            session=session, city_id=world.city.id, actor=audit.Actor.system(),
            campaign_in=CampaignCreate(
                code="winter", name="冬季取暖补贴", budget_fen=1000, benefit_kind="voucher",
                benefit_value=500, starts_at=now - dt.timedelta(minutes=1),
                ends_at=now + dt.timedelta(days=3),
            ),
        )  # fmt: skip
    assert "冬季取暖补贴" in (await browser.get(PAGE)).text  # anyone may look
    await signed_in(browser, sim, world.phones[0])
    page = await browser.get(PAGE)
    url = f"{PAGE}/winter/claim"
    first = await browser.post(url, data=page.form(url).fields)
    assert first.response.headers["location"].startswith(f"/verify?next={PAGE}")
    await verify(browser, sim.world.people[3], PAGE)
    await browser.post(url, data=page.form(url).fields)
    mine = await browser.get(PAGE)
    assert "缴费时可用" in mine.text
    again = await browser.post(url, data=page.form(url).fields, expect=409)
    assert "已经领取过" in again.text
    assert (await campaign_row(db, "winter")).left_fen == 500
