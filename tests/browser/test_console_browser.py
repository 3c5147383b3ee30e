"""City staff in a real browser: sign in, see the overview with its chart, find a payment and
its ledger postings, read the audit log; a staff member of another city sees none of it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.helpers import pay_a_bill, staff_sign_in
from tests.browser.world import WebWorld

PAGES = [
    "",
    "/overview",
    "/payments",
    "/audit",
    "/notices",
    "/notices/new",
    "/connectors",
    "/settlement",
    "/lotteries",
]

pytestmark = pytest.mark.slow  # a real browser: seconds a test


def paid_day(world: WebWorld) -> str:
    """Today in the city's time (the day the bill was paid)."""
    return dt.datetime.now(ZoneInfo(world.city.timezone)).date().isoformat()


async def test_staff_see_figures_payments_and_audit_of_their_city_only(
    chromium: Browser,
    context: BrowserContext,
    page: Page,
    world: WebWorld,
    hub: str,
    screenshot: Any,
    accessible: Any,
) -> None:
    resident = await context.new_page()
    payment_id = await pay_a_bill(resident, world, world.phones[1])

    await page.context.clear_cookies()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await staff_sign_in(page, world.admin.username)
    await page.goto("/console/c/webtown/overview")
    await expect(page.locator("[data-testid=month-count]")).to_have_text("1")
    await expect(page.locator("#chart-services")).to_have_attribute("data-drawn", "true")
    await expect(page.locator("#chart-services svg")).to_have_count(1)
    await screenshot(page, "console-overview")
    await accessible(page)

    listed = await page.goto("/console/c/webtown/payments")
    assert listed is not None and listed.status == 200, await page.content()
    await page.get_by_role("link", name=payment_id).click()
    status = page.locator("[data-testid=payment-status]")
    await expect(status).to_have_attribute("data-status", "completed")
    await expect(status).to_have_text("已支付，收费单位已受理")
    await expect(page.locator("caption").first).to_contain_text("渠道已确认缴费")
    await screenshot(page, "console-payment")
    await accessible(page)

    await page.goto("/console/c/webtown/audit?action=staff.sign_in")
    await screenshot(page, "console-audit")
    await accessible(page)

    await page.goto("/console/c/webtown/connectors")
    await expect(
        page.locator("[data-testid=connector-water] [data-testid=breaker]")
    ).to_contain_text("闭合")
    await screenshot(page, "console-connectors")
    await accessible(page)
    await page.goto("/console/c/webtown/settlement")
    await page.locator("#day").fill(paid_day(world))
    await page.locator("form[action$='/settlement'][method=get] button").click()
    await page.locator("form[action$='/settlement'][method=post] button").click()
    await expect(page.locator("[data-testid=batches]")).to_contain_text("应付 水费")
    await screenshot(page, "console-settlement")
    await accessible(page)
    await page.goto("/console/c/webtown/lotteries")
    await screenshot(page, "console-lotteries")
    await accessible(page)

    other = await chromium.new_context(base_url=hub)
    try:
        stranger = await other.new_page()
        await staff_sign_in(stranger, world.other_admin.username)
        for path in [*PAGES, f"/payments/{payment_id}"]:
            answer = await stranger.goto(f"/console/c/webtown{path}")
            assert answer is not None and answer.status == 404, path
            assert payment_id not in await stranger.locator("main").inner_text()
        answer = await stranger.goto(f"/console/c/webtown/settlement/{paid_day(world)}/batches.csv")
        assert answer is not None and answer.status == 404
        await stranger.goto("/console/c/othertown/overview")
        await expect(stranger.locator("[data-testid=month-count]")).to_have_text("0")
        await stranger.goto("/console/c/othertown/payments")
        assert payment_id not in await stranger.content()
    finally:
        await other.close()
