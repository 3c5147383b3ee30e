"""Notices on the portal: follow and unfollow accounts and topics, the inbox (unread, read when
opened), unread notices under *Needs your attention*; nobody reads another's notices."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cityhub.identity.models import Consent
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, send_notice, web_world
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import follow, signed_in

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_follower_gets_the_notice_unread_then_reads_it(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await follow(browser)
    async with db.unit_of_work() as session:
        consents = (await session.scalars(select(Consent))).all()
    assert [c.scope for c in consents] == ["notices"]
    await send_notice(db, world.city, "浦东")
    await send_notice(db, world.other_city, "他区")  # another city's notice stays there
    await drain(db, settings)

    city = await browser.get("/c/webtown")
    assert "未读通知：浦东停水通知" in city.text
    inbox = await browser.get("/c/webtown/notices")
    assert "1 条未读通知" in inbox.text and "浦东停水通知" in inbox.text
    assert "他区" not in inbox.text
    link = next(a for a in inbox.response.text.split('"') if a.startswith("/c/webtown/notices/"))

    read = await browser.get(link)
    assert "浦东停水 4 小时。" in read.text and "浦东停水通知" in read.title
    after = await browser.get("/c/webtown/notices")
    assert "0 条未读通知" in after.text
    assert "未读通知" not in (await browser.get("/c/webtown")).text

    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])
    await browser.get(link, expect=404)  # another resident's inbox entry does not exist
    await browser.get(link.replace("webtown", "othertown"), expect=404)


async def test_unfollowing_stops_the_next_notice(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await follow(browser, topic="outages")
    page = await browser.get("/c/webtown/notices")
    unfollow = page.form("/c/webtown/notices/unfollow")
    assert unfollow.fields["follow_id"]
    await browser.post("/c/webtown/notices/unfollow", data=unfollow.fields)
    page = await browser.get("/c/webtown/notices")
    assert not [f for f in page.forms if f.action == "/c/webtown/notices/unfollow"]

    await send_notice(db, world.city, "浦东")
    await drain(db, settings)

    assert "0 条未读通知" in (await browser.get("/c/webtown/notices")).text


async def test_follow_forms_refuse_bad_input_and_foreign_follows(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await follow(browser)
    page = await browser.get("/c/webtown/notices")
    token = page.form("/c/webtown/notices/follow").fields["csrf_token"]
    mine = page.form("/c/webtown/notices/unfollow").fields["follow_id"]
    data = {"csrf_token": token}
    await browser.post("/c/webtown/notices/follow", data={**data, "account": "nope"}, expect=404)
    await browser.post("/c/webtown/notices/follow", data={**data, "account": ""}, expect=400)
    await browser.post(
        "/c/webtown/notices/follow", data={"account": "water-co", "csrf_token": "x"}, expect=403
    )
    await browser.post(
        "/c/othertown/notices/unfollow", data={**data, "follow_id": mine}, expect=404
    )
    await browser.post("/c/webtown/notices/unfollow", data={**data, "follow_id": "abc"}, expect=404)
    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])
    token = (await browser.get("/c/webtown/notices")).form("/c/webtown/notices/follow")
    await browser.post(
        "/c/webtown/notices/unfollow",
        data={"csrf_token": token.fields["csrf_token"], "follow_id": mine},
        expect=404,
    )
