"""Answers and bills a resident can read on a 360-pixel phone, in each language: bills as
cards whose Pay button is on screen without scrolling sideways, a query's answer as cards with
labels (no field names), money in yuan and times in the city's time; what went wrong said on
the form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import sign_in, verify
from tests.browser.world import WebWorld

pytestmark = pytest.mark.slow  # a real browser: seconds a test
TRAFFIC = "/c/webtown/query/traffic-violations"
WORDS = {
    "zh-Hans": {"switch": "简体中文", "fine": "罚款", "yuan": "¥", "unknown": "查不到这个户号"},
    "zh-Hant": {"switch": "繁體中文", "fine": "罰款", "yuan": "¥", "unknown": "查不到這個戶號"},
    "en": {"switch": "English", "fine": "Fine", "yuan": "CN¥", "unknown": "no account with"},
}
RAW = ("fine_fen", "occurred_at", "amount_fen", "unpaid", "offence_zh")


async def fits_the_phone(page: Page) -> None:
    """Nothing on the page is wider than the screen: no sideways scrolling."""
    wide = await page.evaluate("document.documentElement.scrollWidth")
    screen = await page.evaluate("document.documentElement.clientWidth")
    assert wide <= screen, f"{page.url}: {wide}px wide on a {screen}px screen"


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_bills_and_answers_read_well_on_a_phone(
    page: Page, world: WebWorld, screenshot: Any, accessible: Any, lang: str
) -> None:
    await page.goto("/")
    if lang != "zh-Hans":
        await page.get_by_role("link", name=WORDS[lang]["switch"]).click()
    bill = world.unpaid("water")
    await sign_in(
        page, world, world.phones[1], next_url=f"/c/webtown/pay/water?account={bill.account}"
    )
    card = page.locator("[data-testid=bill]", has=page.locator(f"input[value='{bill.bill_id}']"))
    pay = card.locator("[data-testid=pay]")
    await expect(pay).to_be_in_viewport()
    box = await pay.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    await expect(card).to_contain_text(WORDS[lang]["yuan"])
    await fits_the_phone(page)
    await screenshot(page, f"portal-bills-cards-{lang}")
    await accessible(page)

    await page.fill("#account", "0000000000")
    await page.locator("#account").press("Enter")
    await expect(page.locator("[data-testid=problem]")).to_contain_text(WORDS[lang]["unknown"])
    await expect(page.locator("#account")).to_have_value("0000000000")
    await screenshot(page, f"portal-bills-problem-{lang}")
    await accessible(page)

    await page.goto(TRAFFIC)
    await verify(page, world, 0)
    await page.check("#consent")
    await page.fill("#p_plate", world.sim.world.people[0].plates[0])
    await page.locator(f"form[action='{TRAFFIC}'] button[type=submit]").click()
    records = page.locator("[data-testid=answer] [data-testid=record]")
    await expect(records.first).to_contain_text(WORDS[lang]["fine"])
    await expect(records.first).to_contain_text(WORDS[lang]["yuan"])
    text = await page.locator("main").inner_text()
    assert not [raw for raw in RAW if raw in text], text
    await fits_the_phone(page)
    await screenshot(page, f"portal-query-cards-{lang}")
    await accessible(page)
