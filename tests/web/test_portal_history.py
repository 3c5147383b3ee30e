"""The resident's history on the portal: their items from the portal and from a channel they
proved is theirs, an item's page, the download of their own data; nobody else's."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from cityhub.identity.models import ChannelUser
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.history.factories import affairs, link, parents, people
from tests.identity.factories import create_channel
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_the_portal_shows_the_residents_history_and_their_data(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await signed_in(browser, sim, world.phones[0])
    async with db.unit_of_work() as session:
        me = await session.scalar(
            select(ChannelUser).where(ChannelUser.channel_id == world.portal.channel.id)
        )
    assert me is not None
    p = await parents(db, city=world.city)
    app = await create_channel(db)
    [(_, app_user)] = await people(db, channel_id=app.channel.id, count=1)
    await link(db, channel_id=app.channel.id, user_id=app_user, to_resident=me.resident_id)
    mine = await affairs(
        db, p, resident_id=me.resident_id, channel_id=world.portal.channel.id,
        channel_slug=world.portal.channel.slug, user_id=me.channel_user_id,
    )  # fmt: skip
    theirs = await affairs(
        db, p, resident_id=me.resident_id, channel_id=app.channel.id,
        channel_slug=app.channel.slug, user_id=app_user, notice=False,
    )  # fmt: skip
    [(stranger, stranger_user)] = await people(db, channel_id=app.channel.id, count=1)
    other = await affairs(
        db, p, resident_id=stranger, channel_id=app.channel.id, channel_slug=app.channel.slug,
        user_id=stranger_user, notice=False,
    )  # fmt: skip

    me_page = await browser.get("/me")
    assert 'href="/history"' in me_page.response.text
    page = await browser.get("/history")
    assert page.response.text.count('data-testid="history-item"') == 11  # 2 x 5 + the notice
    # The app by its name, never its slug; its items without its ids, here and on their pages.
    assert app.channel.name in page.text and app.channel.slug not in page.response.text
    assert "缴费" in page.text
    ids = [ref for kind, ref in theirs.items() if kind != "query"]  # a query's is its service
    for link_to in re.findall(r'href="(/history/items/[^"]+)"', page.response.text):
        shown = await browser.get(link_to)
        assert not [v for v in ids if re.search(rf"\b{re.escape(v)}\b", shown.text)]
        assert app.channel.slug not in shown.response.text
    for value in other.values():  # in what is read (an opaque item id may hold "L6" by chance)
        assert not re.search(rf"\b{re.escape(value)}\b", page.text)
    link_to = next(a for a in page.response.text.split('"') if a.startswith("/history/items/"))
    item = await browser.get(link_to)
    assert 'data-testid="history-item"' in item.response.text
    await browser.get("/history/items/forged", expect=404)

    exported = json.loads((await browser.client.get("/history/export.json")).text)
    assert len(exported["items"]) == 11
    refs = {i["ref"] for i in exported["items"] if i["ref"]}
    assert mine["payment"] in refs and theirs["payment"] not in refs  # the app's ids stay its own
    rows = list(csv.DictReader(io.StringIO((await browser.client.get("/history/export.csv")).text)))
    assert len(rows) == 11
    await browser.get("/history/export.xml", expect=404)
