"""The resident's auto-debits on the portal (/me/auto-debits), in three languages: their
agreements made on any app where they are linked, paused, resumed and cancelled there;
nobody else's."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cityhub.autodebit import service
from cityhub.autodebit.models import Agreement, AutoDebitAgreementStatus
from cityhub.autodebit.schemas import AutoDebitAgreementCreate
from cityhub.identity.models import Channel, ChannelUser
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in

__all__ = ["sim", "simulator"]
ACTION = re.compile(r'action="(/me/auto-debits/(ada_[0-9a-f]+)/(pause|resume|cancel))"')


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def _agreement_of_last_signed_in(db: Database, world: WebWorld) -> str:
    """The portal's newest user makes an agreement through the portal channel."""
    bill = world.unpaid("water")
    async with db.unit_of_work() as session:
        user = await session.scalar(
            select(ChannelUser)
            .where(ChannelUser.channel_id == world.portal.channel.id)
            .order_by(ChannelUser.id.desc())
            .limit(1)
        )
        channel = await session.get(Channel, world.portal.channel.id)
        assert user is not None and channel is not None
        made = await service.create(
            session=session,
            city=world.city,
            channel=channel,
            agreement_in=AutoDebitAgreementCreate(
                user_id=user.channel_user_id,
                service="water",
                account=bill.account,
                limit_fen=20_000,
                currency="CNY",
            ),
        )
        return made.public_id


async def _status(db: Database, public_id: str) -> AutoDebitAgreementStatus:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(Agreement.status).where(Agreement.public_id == public_id)
        )
    assert found is not None
    return found


async def test_a_resident_pauses_resumes_and_cancels_their_agreement_on_the_portal(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await signed_in(browser, sim, world.phones[0])
    empty = await browser.get("/me/auto-debits")
    assert 'data-testid="agreement"' not in empty.response.text
    made = await _agreement_of_last_signed_in(db, world)
    assert 'href="/me/auto-debits"' in (await browser.get("/me")).response.text
    mine = await browser.get("/me/auto-debits")
    assert f'data-id="{made}" data-status="active"' in mine.response.text
    assert "¥200.00" in mine.text
    for step, status in (("pause", "paused"), ("resume", "active"), ("cancel", "cancelled")):
        actions = {a: path for path, _, a in ACTION.findall(mine.response.text)}
        await browser.post(actions[step], data=mine.form(actions[step]).fields)
        mine = await browser.get("/me/auto-debits")
        assert f'data-status="{status}"' in mine.response.text
        assert await _status(db, made) == AutoDebitAgreementStatus(status)
    assert not ACTION.search(mine.response.text)  # cancelled: nothing left to do
    # Someone else sees nothing of it and cannot act on it.
    browser.client.cookies.clear()
    await signed_in(browser, sim, world.phones[1])
    theirs = await browser.get("/me/auto-debits")
    assert made not in theirs.response.text
    form = {"csrf_token": theirs.form("/sign-out").fields["csrf_token"]}
    await browser.post(f"/me/auto-debits/{made}/resume", data=form, expect=404)


@pytest.mark.parametrize(
    ("lang", "title", "status"),
    [
        ("zh-Hans", "我的自动扣款", "生效中"),
        ("zh-Hant", "我的自動扣款", "生效中"),
        ("en", "My auto-debits", "In force"),
    ],
)
async def test_the_page_speaks_the_residents_language(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, lang: str, title: str, status: str
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await _agreement_of_last_signed_in(db, world)
    page = await browser.get("/me/auto-debits", headers={"Accept-Language": lang})
    assert title in page.response.text and status in page.text
