"""Notices in a real browser: a resident follows the water company, gets its notice, sees it
under *Needs your attention* and reads it (zh-Hans and en); a staff member composes a notice
from a template, previews and sends it, and sees it counted once it is opened."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import func, select

from cityhub.notices.models import NoticeRecipient
from cityhub.platform.db import Database
from tests.browser.helpers import no_full_numbers, sign_in, staff_sign_in
from tests.browser.world import WebWorld, send_notice
from tests.outbox_helpers import eventually

pytestmark = pytest.mark.slow  # a real browser: seconds a test


async def inbox_rows(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(NoticeRecipient)) or 0)


async def follow_water_company(page: Page, world: WebWorld, phone: str) -> None:
    """Sign in and follow the water company of Webtown from its notices page."""
    await sign_in(page, world, phone, next_url="/c/webtown/notices")
    account = page.locator("[data-testid=account-water-co]")
    await account.locator("form[action$='/notices/follow'] button").first.click()
    await expect(account.locator("form[action$='/notices/unfollow']").first).to_have_count(1)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh-Hans", {"title": "浦东停水通知", "body": "浦东停水 4 小时。", "unread": "未读通知"}),
        (
            "en",
            {
                "title": "Water outage in Pudong",
                "body": "No water in Pudong for 4 h.",
                "unread": "Unread notice",
            },
        ),
    ],
)
async def test_a_resident_follows_an_account_and_reads_its_notice(
    page: Page,
    world: WebWorld,
    db: Database,
    screenshot: Any,
    accessible: Any,
    lang: str,
    words: dict[str, str],
) -> None:
    phone = world.phones[0]
    await page.goto(f"/lang/{lang}?next=/")
    await follow_water_company(page, world, phone)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await screenshot(page, f"portal-notices-follow-{lang}")
    await accessible(page)

    district = "浦东" if lang == "zh-Hans" else "Pudong"
    await send_notice(db, world.city, district)
    await eventually(lambda: inbox_rows(db), what="the notice in the inbox")

    await page.goto("/c/webtown")
    attention = page.locator("#attention-title + ul a")
    await expect(attention).to_contain_text(words["unread"])
    await expect(attention).to_contain_text(words["title"])
    await screenshot(page, f"portal-city-attention-{lang}")
    await accessible(page)

    await attention.first.click()
    await expect(page.locator("[data-testid=notice-body] h1")).to_have_text(words["title"])
    await expect(page.locator("[data-testid=notice-body]")).to_contain_text(words["body"])
    await screenshot(page, f"portal-notice-{lang}")
    await accessible(page)
    await no_full_numbers(page, phone)

    await page.goto("/c/webtown/notices")
    await expect(page.locator("[data-testid=notice] .badge")).to_have_count(0)  # read now
    await expect(page.locator("[data-testid=notice] a")).to_have_text(words["title"])
    await screenshot(page, f"portal-inbox-{lang}")
    await accessible(page)
    await page.goto("/c/webtown")
    await expect(page.locator("#attention-title")).to_have_count(0)


async def test_a_staff_member_sends_a_notice_and_sees_it_counted(
    chromium: Browser,
    hub: str,
    page: Page,
    world: WebWorld,
    db: Database,
    screenshot: Any,
    accessible: Any,
) -> None:
    resident = page
    await follow_water_company(resident, world, world.phones[1])

    staff_context = await chromium.new_context(
        base_url=hub,
        viewport={"width": 1280, "height": 900},
        locale="zh-CN",
    )
    staff_context.set_default_timeout(15_000)
    try:
        staff = await staff_context.new_page()
        await staff_sign_in(staff, world.admin.username)
        await staff.goto("/console/c/webtown/notices")
        await staff.get_by_role("link", name="撰写通知").click()
        await staff.fill("#v_district", "浦东")
        await staff.fill("#v_hours", "6")
        await screenshot(staff, "console-notice-compose")
        await accessible(staff)
        await staff.get_by_role("button", name="预览").click()
        await expect(staff.locator("[data-testid=preview-zh-Hans]")).to_contain_text(
            "浦东停水 6 小时。"
        )
        await expect(staff.locator("[data-testid=preview-en]")).to_contain_text("for 6 h.")
        await screenshot(staff, "console-notice-preview")
        await accessible(staff)
        await staff.get_by_role("button", name="发送通知").click()
        await expect(staff.locator("[data-testid=notice-status]")).to_have_count(1)

        await eventually(lambda: inbox_rows(db), what="the notice in the inbox")
        await resident.goto("/c/webtown/notices")
        await resident.locator("[data-testid=notice] a").first.click()
        await expect(resident.locator("[data-testid=notice-body]")).to_contain_text("6 小时")

        await staff.reload()
        await expect(staff.locator("[data-testid=recipients]")).to_have_text("1")
        await expect(staff.locator("[data-testid=opened]")).to_have_text("1")
        await expect(staff.locator("[data-testid=acted]")).to_have_text("0")
        await screenshot(staff, "console-notice-figures")
        await accessible(staff)
        await staff.goto("/console/c/webtown/notices")
        await expect(staff.locator("tbody tr")).to_have_count(1)
    finally:
        await staff_context.close()
