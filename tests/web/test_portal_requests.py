"""Service requests in the portal and the console: a resident reports (with a photo), the
department handles it to closure, the resident reopens and rates; bad input shows the form
again naming the field, and stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.requests.models import ServiceRequest
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD
from tests.requests.factories import INSIDE, OUTSIDE, jpeg, setup_city
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    found = await web_world(db, sim)
    await setup_city(db, found.city, head=found.admin.username, member=found.clerk.username)
    return found


async def count(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ServiceRequest)) or 0)


def report_form(fields: dict[str, str], **change: str) -> dict[str, str]:
    return {
        **fields,
        "description": "路灯不亮",
        "lat": str(INSIDE["lat"]),
        "lon": str(INSIDE["lon"]),
        "a_kind": "off",
        **change,
    }


async def test_report_handle_reopen_and_rate_through_the_pages(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, app: object
) -> None:
    await signed_in(browser, sim, world.phones[0])
    choose = await browser.get("/c/webtown/requests/new")
    assert "Street light out（简）" in choose.text
    form = (await browser.get("/c/webtown/requests/new?type=streetlight")).form(
        "/c/webtown/requests/new"
    )
    outside = await browser.post(
        "/c/webtown/requests/new",
        data=report_form(form.fields, lat=str(OUTSIDE["lat"]), lon=str(OUTSIDE["lon"])),
        expect=422,
    )
    assert 'data-field="lat"' in outside.response.text
    bad_value = await browser.post(
        "/c/webtown/requests/new", data=report_form(form.fields, a_kind="exploded"), expect=422
    )
    assert 'data-field="attributes.kind"' in bad_value.response.text
    exe = await browser.post(
        "/c/webtown/requests/new",
        data=report_form(form.fields),
        files={"photos": ("x.jpg", b"MZ\x90\x00" + b"\0" * 100, "image/jpeg")},
        expect=422,
    )
    assert 'data-field="photos.0"' in exe.response.text
    assert await count(db) == 0

    made = await browser.post(
        "/c/webtown/requests/new",
        data=report_form(form.fields),
        files={"photos": ("lamp.jpg", jpeg(), "image/jpeg")},
    )
    path = made.response.headers["location"]
    number = path.rsplit("/", 1)[1]
    mine = await browser.get("/c/webtown/requests")
    assert number in mine.text and "已接收" in mine.text

    console = Browser(browser.client.__class__(transport=browser.client._transport,
                                               base_url=browser.client.base_url))  # fmt: skip
    await console.sign_in(world.clerk.username, PASSWORD)
    queue = await console.get("/console/c/webtown/requests")
    assert number in queue.text
    base = f"/console/c/webtown/requests/{number}"
    page = await console.get(base)
    csrf = page.form(f"{base}/triage").fields["csrf_token"]
    await console.post(f"{base}/triage", data={"csrf_token": csrf, "note": "已派人"})
    await console.post(
        f"{base}/assign", data={"csrf_token": csrf, "assignee": world.clerk.username}
    )
    await console.post(f"{base}/notes", data={"csrf_token": csrf, "note": "电缆故障"})
    await console.post(f"{base}/resolve", data={"csrf_token": csrf, "note": "已更换灯泡"})
    refused = await console.post(f"{base}/hold", data={"csrf_token": csrf, "note": "x"},
                                 expect=409)  # fmt: skip
    assert refused.status == 409

    seen = await browser.get(path)
    assert "已办理" in seen.text and "已更换灯泡" in seen.text and "电缆故障" not in seen.text
    reopen = seen.form(f"{path}/reopen")
    await browser.post(f"{path}/reopen", data={**reopen.fields, "note": "又不亮了"})
    assert "已接收" in (await browser.get(path)).text
    await console.post(f"{base}/triage", data={"csrf_token": csrf, "note": "再查"})
    await console.post(f"{base}/resolve", data={"csrf_token": csrf, "note": "更换电缆"})
    await console.post(f"{base}/close", data={"csrf_token": csrf, "note": "夜间复查正常"})
    rate = (await browser.get(path)).form(f"{path}/rate")
    await browser.post(f"{path}/rate", data={**rate.fields, "rating": "5", "note": "好"})
    assert "您的评分：5 / 5" in (await browser.get(path)).text
    board = await console.get("/console/c/webtown/requests?status=closed")
    assert number in board.text
    await console.client.aclose()


async def test_an_anonymous_visitor_gets_the_number(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    form = (await browser.get("/c/webtown/requests/new?type=streetlight")).form(
        "/c/webtown/requests/new"
    )
    thanks = await browser.post("/c/webtown/requests/new", data=report_form(form.fields),
                                expect=200)  # fmt: skip
    assert "您的诉求编号是" in thanks.text and await count(db) == 1
    await browser.get("/c/webtown/requests", expect=303)  # "my requests" needs signing in


async def test_the_public_page_shows_open_requests_roughly(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    from cityhub.identity.audit import Actor
    from cityhub.requests import catalogue
    from cityhub.requests.schemas import RequestSettingsUpdate

    form = (await browser.get("/c/webtown/requests/new?type=streetlight")).form(
        "/c/webtown/requests/new"
    )
    thanks = await browser.post(
        "/c/webtown/requests/new", data=report_form(form.fields, description="门牌 12 号"),
        expect=200,
    )  # fmt: skip
    await browser.get("/c/webtown/requests/public", expect=404)
    async with db.unit_of_work() as session:
        await catalogue.update_settings(
            session=session, actor=Actor.system(), city=world.city,
            settings_in=RequestSettingsUpdate(publish_open=True),
        )  # fmt: skip
    shown = await browser.get("/c/webtown/requests/public")
    number = thanks.response.text.split('data-testid="request-number">')[1].split("<")[0]
    assert number in shown.text and "门牌" not in shown.text
    assert str(INSIDE["lat"]) not in shown.text
