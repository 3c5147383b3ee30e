"""Composing and sending a notice in the console: preview in every language, a bad value shown
on the form, one notice however often Send is pressed, the figures, roles and other cities."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityhub.identity.models import Role
from cityhub.notices.models import Notice
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD, create_staff
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import follow, signed_in

__all__ = ["sim", "simulator"]
NEW = "/console/c/webtown/notices/new"
PREVIEW = "/console/c/webtown/notices/preview"
SEND = "/console/c/webtown/notices/send"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def notice_count(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Notice)) or 0)


async def test_staff_preview_send_once_and_see_the_notice_counted(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings, app: object
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await follow(browser)
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)

    compose = await browser.get(NEW)
    form = compose.form(PREVIEW).fields
    form.pop("urgent")  # a checkbox left unticked
    assert form["account"] == "water-co" and form["template"] == "outage"

    bad = await browser.post(
        PREVIEW, data={**form, "v_district": "浦东", "v_hours": "x"}, expect=422
    )
    assert "hours" in bad.text and not [f for f in bad.forms if f.action == SEND]

    shown = await browser.post(
        PREVIEW, data={**form, "v_district": "浦东", "v_hours": "4"}, expect=200
    )
    assert "浦东停水 4 小时。" in shown.text and "浦东停水 4 小時。" in shown.text
    assert "No water in 浦东 for 4 h." in shown.text
    assert await notice_count(db) == 0  # a preview sends nothing
    send = shown.form(SEND).fields

    sent = await browser.post(SEND, data=send)
    again = await browser.post(SEND, data=send)
    location = sent.response.headers["location"]
    assert again.response.headers["location"] == location
    assert await notice_count(db) == 1

    await drain(db, settings)
    detail = await browser.get(location)
    assert "浦东停水通知" in detail.title
    assert 'data-testid="recipients">1<' in detail.response.text
    assert 'data-testid="opened">0<' in detail.response.text
    listed = await browser.get("/console/c/webtown/notices")
    assert location in listed.response.text
    overview = await browser.get("/console/c/webtown/overview")
    assert 'data-testid="notices-today">1<' in overview.response.text
    assert 'data-testid="bookings-today">0<' in overview.response.text

    audit = await browser.get("/console/c/webtown/audit?action=notice.send")
    assert "notice.send" in audit.text


async def test_roles_and_cities_are_respected(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR, username="webauditor")
    await browser.sign_in(auditor.username, PASSWORD)
    await browser.get(NEW, expect=403)
    await browser.get("/console/c/webtown/notices")  # the figures are for every role
    token = (await browser.sign_out_form()).fields["csrf_token"]
    data = {"csrf_token": token, "account": "water-co", "template": "outage"}
    await browser.post(PREVIEW, data=data, expect=403)
    await browser.post(SEND, data={**data, "send_token": "abcdefghij"}, expect=403)
    assert await notice_count(db) == 0

    browser.client.cookies.clear()
    await browser.sign_in(world.other_admin.username, PASSWORD)
    await browser.get(NEW, expect=404)
    token = (await browser.sign_out_form()).fields["csrf_token"]
    await browser.post(
        SEND, data={**data, "csrf_token": token, "send_token": "abcdefghij"}, expect=404
    )
    await browser.post(
        SEND.replace("webtown", "othertown"), data={**data, "send_token": "x"}, expect=403
    )
    assert await notice_count(db) == 0


async def test_a_full_phone_or_identity_number_typed_into_a_notice_is_refused(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    await browser.sign_in(world.admin.username, PASSWORD)
    form = (await browser.get(NEW)).form(PREVIEW).fields
    form.pop("urgent")
    for district in ("call 138 1234 5678", "浦东 310101199003070051"):
        bad = await browser.post(
            PREVIEW, data={**form, "v_district": district, "v_hours": "4"}, expect=422
        )
        assert 'id="v_district"' in bad.response.text and "district" in bad.text
        assert 'aria-invalid="true"' in bad.response.text
        assert not [f for f in bad.forms if f.action == SEND]
    masked = await browser.post(
        PREVIEW, data={**form, "v_district": "call 138****5678", "v_hours": "4"}, expect=200
    )
    assert masked.form(SEND)
    assert await notice_count(db) == 0
