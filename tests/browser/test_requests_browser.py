"""Service requests in a real browser: a resident reports a street light out with a photo
from the portal, the department's clerk accepts and resolves it in the console, the resident
reopens it, the clerk resolves and closes it, and the resident rates the handling."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from cityhub.platform.db import Database
from tests.browser.helpers import sign_in, staff_sign_in
from tests.browser.world import WebWorld, web_world
from tests.requests.factories import INSIDE, jpeg, setup_city
from tests.simulators.fixtures import Sim

pytestmark = pytest.mark.slow  # a real browser: seconds a test


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    found = await web_world(db, sim)
    await setup_city(db, found.city, head=found.admin.username, member=found.clerk.username)
    return found


async def step(page: Page, base: str, name: str, note: str) -> None:
    await page.goto(base)
    await page.fill(f"#{name}-note", note)
    await page.locator(f"[data-testid=do-{name}]").click()
    await expect(page.locator("[data-testid=request-status]")).to_have_count(1)


async def test_a_report_from_the_portal_is_handled_to_closure_and_rated(
    chromium: Browser,
    page: Page,
    world: WebWorld,
    hub: str,
    screenshot: Any,
    accessible: Any,
) -> None:
    await sign_in(page, world, world.phones[0], next_url="/c/webtown/requests/new")
    await page.locator("[data-testid=type-streetlight]").click()
    await page.fill("#description", "小区门口路灯不亮")
    await page.fill("#lat", str(INSIDE["lat"]))
    await page.fill("#lon", str(INSIDE["lon"]))
    await page.select_option("#a_kind", "off")
    await page.set_input_files(
        "#photos", files=[{"name": "lamp.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
    )
    await screenshot(page, "portal-request-new")
    await accessible(page)
    await page.locator("[data-testid=submit-report]").click()
    await expect(page.locator("[data-testid=request-status]")).to_have_text("已接收")
    number = page.url.rsplit("/", 1)[1]
    mine = page.url

    staff = await (await chromium.new_context(base_url=hub, locale="zh-CN")).new_page()
    await staff.set_viewport_size({"width": 1280, "height": 900})
    await staff_sign_in(staff, world.clerk.username)
    await staff.goto("/console/c/webtown/requests")
    await expect(staff.locator("[data-testid=queue]")).to_contain_text(number)
    await screenshot(staff, "console-requests")
    await accessible(staff)
    base = f"/console/c/webtown/requests/{number}"
    await step(staff, base, "triage", "已派维修班组")
    await step(staff, base, "resolve", "已更换灯泡")
    await expect(staff.locator("[data-testid=request-status]")).to_have_text("已办理")
    await screenshot(staff, "console-request")
    await accessible(staff)

    await page.goto(mine)
    await expect(page.locator("[data-testid=step]").last).to_contain_text("已更换灯泡")
    await page.fill("#reopen-note", "晚上又不亮了")
    await page.locator("[data-testid=reopen]").click()
    await expect(page.locator("[data-testid=request-status]")).to_have_text("已接收")

    await step(staff, base, "triage", "再次检查")
    await step(staff, base, "resolve", "更换电缆")
    await step(staff, base, "close", "夜间复查正常")
    await expect(staff.locator("[data-testid=request-status]")).to_have_text("已办结")

    await page.goto(mine)
    await page.locator("input[name=rating][value='4']").check()
    await page.locator("[data-testid=rate]").click()
    await expect(page.locator("[data-testid=my-rating]")).to_contain_text("4")
    await screenshot(page, "portal-request")
    await accessible(page)
