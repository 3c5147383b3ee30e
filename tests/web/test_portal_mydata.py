"""The resident's own data on the portal: the consents they gave (each withdrawn there) and
who accessed their personal data, when and for what purpose; nobody else's."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cityhub.identity.models import Consent
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in, verified

__all__ = ["sim", "simulator"]
WITHDRAW = re.compile(r'action="(/me/consents/(\d+)/withdraw)"')


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_resident_sees_and_withdraws_consents_and_sees_who_accessed_their_data(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    account = await browser.get("/me")
    assert 'href="/me/data"' in account.response.text
    mine = await browser.get("/me/data")
    html = mine.response.text
    assert 'data-scope="identity"' in html and 'data-withdrawn="false"' in html
    assert html.count('data-testid="access"') == 2  # the portal asked, the registry answered
    # The hub's purposes in the reader's words, the portal by its name in their language.
    assert "核验了您的身份" in mine.text and "姓名和身份证号" in mine.text
    assert "网城门户" in mine.text and "Portal" not in mine.text
    assert sim.world.people[1].id_number not in html

    [(action, consent_id)] = WITHDRAW.findall(html)
    await browser.post(action, data=mine.form(action).fields)
    after = await browser.get("/me/data")
    assert 'data-withdrawn="true"' in after.response.text and not WITHDRAW.search(
        after.response.text
    )
    async with db.unit_of_work() as session:
        row = await session.get(Consent, int(consent_id))
        assert row is not None and row.withdrawn_at is not None

    # Someone else can neither see nor withdraw it.
    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])
    theirs = await browser.get("/me/data")
    assert 'data-testid="consent"' not in theirs.response.text
    assert 'data-testid="access"' not in theirs.response.text
    async with db.unit_of_work() as session:
        live = await session.scalar(select(Consent).where(Consent.withdrawn_at.is_(None)))
    assert live is None
    form = {"csrf_token": theirs.form("/sign-out").fields["csrf_token"]}
    await browser.post(f"/me/consents/{consent_id}/withdraw", data=form, expect=404)
