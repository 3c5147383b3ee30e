"""A part payment typed on a 360-pixel phone: the amount field and Pay on screen without
scrolling sideways, the bounds under the field, a refused amount said on the form with what
was typed still in it, in each language."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from cityhub.billing import terms
from cityhub.billing.enums import AmountRule
from cityhub.platform.db import Database
from tests.browser.helpers import sign_in
from tests.browser.test_readable_browser import WORDS, fits_the_phone
from tests.browser.world import WebWorld

pytestmark = pytest.mark.slow  # a real browser: seconds a test
STEPS = {"zh-Hans": "整元", "zh-Hant": "整元", "en": "whole yuan"}


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_a_part_amount_is_typed_and_refused_on_a_phone(
    page: Page, world: WebWorld, db: Database, screenshot: Any, accessible: Any, lang: str
) -> None:
    async with db.unit_of_work() as session:
        await terms.save(
            session=session,
            city_id=world.city.id,
            service_id=world.services["power"].id,
            terms=terms.Terms(amount_rule=AmountRule.PARTIAL, min_fen=1_000, multiple_fen=100),
        )
    await page.goto("/")
    if lang != "zh-Hans":
        await page.get_by_role("link", name=WORDS[lang]["switch"]).click()
    bill = world.unpaid("power")
    await sign_in(
        page, world, world.phones[1], next_url=f"/c/webtown/pay/power?account={bill.account}"
    )
    card = page.locator("[data-testid=bill]", has=page.locator(f"input[value='{bill.bill_id}']"))
    amount, pay = card.locator("[data-testid=amount]"), card.locator("[data-testid=pay]")
    await pay.scroll_into_view_if_needed()  # the field and Pay on screen together
    for shown in (amount, pay):
        await expect(shown).to_be_in_viewport()
        box = await shown.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    await expect(card.locator("[data-testid=amount-hint]")).to_contain_text(STEPS[lang])
    await fits_the_phone(page)
    await screenshot(page, f"portal-part-amount-{lang}")
    await accessible(page)

    await amount.fill("10.50")
    await pay.click()
    await expect(page.locator("[data-testid=problem]")).to_have_attribute(
        "data-code", "amount_not_multiple"
    )
    kept = page.locator("[data-testid=amount]")
    await expect(kept).to_have_value("10.50")
    await page.locator("[data-testid=pay]").scroll_into_view_if_needed()
    for shown in (kept, page.locator("[data-testid=pay]"), page.locator("[data-testid=problem]")):
        await expect(shown).to_be_in_viewport()
    await fits_the_phone(page)
    await screenshot(page, f"portal-part-amount-refused-{lang}")
    await accessible(page)
