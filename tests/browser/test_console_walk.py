"""A clerk's walk through the console in a real browser: find a payment by the bill's account,
filter the payments by channel and day, see a job's last run, find the resident's complaint
about the payment and answer it, send a notice and see its delivered counts add up to the
recipients (the inbox counted as a route)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import func, select

from cityhub.notices.models import NoticeRecipient
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.scheduler import Scheduler
from tests.browser.helpers import pay_a_bill, staff_sign_in
from tests.browser.world import WebWorld
from tests.outbox_helpers import eventually

pytestmark = pytest.mark.slow  # a real browser: seconds a test


async def inbox_rows(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(NoticeRecipient)) or 0)


async def payments_shown(page: Page) -> list[str]:
    """The payment numbers in the list."""
    return await page.locator("[data-testid=payment] td.mono a").all_inner_texts()


async def test_a_clerk_finds_filters_sees_a_jobs_last_run_and_counts_that_add_up(
    page: Page,
    world: WebWorld,
    db: Database,
    settings: Settings,
    screenshot: Any,
    accessible: Any,
) -> None:
    bill = world.unpaid("water")
    world.used.discard(bill.bill_id)  # `pay_a_bill` takes the first unpaid bill again
    payment_id = await pay_a_bill(page, world, world.phones[1])
    # Something is wrong with it: the resident complains from the payment's page.
    await page.get_by_test_id("complain").click()
    await page.get_by_test_id("type-wrong_amount").check()
    await page.fill("#description", "多收了 3 元")
    await page.get_by_test_id("file-complaint").click()
    await expect(page.get_by_test_id("complaint-status")).to_have_text("处理中")
    complaint_id = page.url.rsplit("/", 1)[-1]
    await screenshot(page, "portal-complaint")
    await accessible(page)
    await page.goto("/c/webtown/notices")
    account = page.locator("[data-testid=account-water-co]")
    await account.locator("form[action$='/notices/follow'] button").first.click()
    await expect(account.locator("form[action$='/notices/unfollow']").first).to_have_count(1)
    await Scheduler(db, settings).run_due()  # the jobs ran once for every city

    await page.context.clear_cookies()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await staff_sign_in(page, world.admin.username)
    today = dt.datetime.now(ZoneInfo(world.city.timezone)).date()

    # Find the payment by the bill's account.
    await page.goto("/console/c/webtown/payments")
    await page.fill("#q", bill.account)
    await page.get_by_role("button", name="搜索").click()
    assert await payments_shown(page) == [payment_id]
    await expect(page.locator("[data-testid=payment]")).to_contain_text("已支付，收费单位已受理")
    await screenshot(page, "console-payments-by-account")
    await accessible(page)

    # Filter by channel and day: today's portal payments hold it, tomorrow's do not.
    await page.fill("#q", "")
    await page.select_option("#channel", world.portal.channel.slug)
    await page.fill("#start", today.isoformat())
    await page.fill("#end", today.isoformat())
    await page.get_by_role("button", name="搜索").click()
    assert await payments_shown(page) == [payment_id]
    await page.fill("#start", (today + dt.timedelta(days=1)).isoformat())
    await page.fill("#end", (today + dt.timedelta(days=1)).isoformat())
    await page.get_by_role("button", name="搜索").click()
    await expect(page.locator("[data-testid=no-payment]")).to_be_visible()

    # A job's last run.
    await page.goto("/console/c/webtown/jobs")
    settle = page.locator("[data-testid=job-settle]")
    await expect(settle.locator("[data-testid=outcome]")).to_contain_text("已完成")
    await expect(settle.locator("[data-testid=last-run]")).not_to_have_text("尚未运行")
    await expect(settle).to_contain_text("按收费单位和渠道结算前一天")
    await screenshot(page, "console-jobs")
    await accessible(page)

    # Find the complaint among the overdue-or-not of its type, and answer it.
    await page.goto("/console/c/webtown/complaints")
    await page.select_option("#type", "wrong_amount")
    await page.get_by_role("button", name="显示").click()
    await page.get_by_role("link", name=complaint_id).click()
    await expect(page.get_by_test_id("complaint-status")).to_have_text("处理中")
    await page.fill("#resolution", "已退还多收的 3 元")
    await page.get_by_test_id("do-resolve").click()
    await expect(page.get_by_test_id("complaint-status")).to_have_text("已答复")
    await expect(page.get_by_test_id("complaint-answer")).to_have_text("已退还多收的 3 元")
    await screenshot(page, "console-complaint")
    await accessible(page)

    # Send a notice; the delivered counts, route by route, add up to the recipients (the
    # complaint's notices made the city's own account: choose the water company's).
    await page.goto("/console/c/webtown/notices/new?account=water-co")
    await page.fill("#v_district", "浦东")
    await page.fill("#v_hours", "3")
    await page.get_by_role("button", name="预览").click()
    await page.get_by_role("button", name="发送通知").click()
    await expect(page.locator("[data-testid=notice-status]")).to_have_count(1)
    await eventually(lambda: inbox_rows(db), what="the notice in the inbox")
    await page.reload()
    recipients = await page.locator("[data-testid=recipients]").inner_text()
    assert int(recipients) >= 1
    await expect(page.locator("[data-testid=delivered]")).to_have_text(recipients)
    await expect(page.locator("[data-testid=routes-total]")).to_have_text(recipients)
    counts = await page.locator("[data-testid=routes] tbody td").all_inner_texts()
    assert sum(int(c) for c in counts) == int(recipients)
    await screenshot(page, "console-notice-routes")
    await accessible(page)
    await page.goto("/console/c/webtown/notices")
    pushed = await page.locator("[data-testid=pushed]").first.inner_text()
    inbox = await page.locator("[data-testid=inbox-only]").first.inner_text()
    assert int(pushed) + int(inbox) == int(recipients)

    # Another city's admin finds nothing of it.
    await page.context.clear_cookies()
    await staff_sign_in(page, world.other_admin.username)
    answer = await page.goto(f"/console/c/webtown/payments?q={bill.account}")
    assert answer is not None and answer.status == 404
    await page.goto(f"/console/c/othertown/payments?q={bill.account}")
    assert await payments_shown(page) == []
