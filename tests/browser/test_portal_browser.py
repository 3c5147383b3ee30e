"""A resident in a real browser: signs in with a code sent by text message, finds a service,
pays a bill with the demo wallet and sees the receipt, in Simplified Chinese and in English."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import no_full_numbers, sign_in
from tests.browser.world import WebWorld

pytestmark = pytest.mark.slow  # a real browser: seconds a test


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("zh-Hans", {"paid": "收费单位已受理", "receipt": "回执", "city": "网城"}),
        ("en", {"paid": "accepted by the biller", "receipt": "Receipt", "city": "Webtown"}),
    ],
)
async def test_a_resident_signs_in_and_pays_a_bill(
    page: Page,
    world: WebWorld,
    screenshot: Any,
    accessible: Any,
    lang: str,
    words: dict[str, str],
) -> None:
    phone = world.phones[0]
    await page.goto("/")
    if lang != "zh-Hans":
        await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await screenshot(page, f"portal-home-{lang}")
    await accessible(page)

    await page.get_by_role("link", name=words["city"]).first.click()
    await expect(page.locator("h1")).to_have_text(words["city"])
    await screenshot(page, f"portal-city-{lang}")
    await accessible(page)

    await page.locator(
        "a.service-name[href$='/pay/water']"
    ).click()  # to the sign-in form, then back
    await expect(page.locator("#phone")).to_be_visible()
    await screenshot(page, f"portal-sign-in-{lang}")
    await accessible(page)
    bill = world.unpaid("water")
    await sign_in(page, world, phone, next_url="/c/webtown/pay/water")
    await expect(page.locator("#account")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", lang)  # the switch held

    await page.fill("#account", bill.account)
    await page.locator("#account").press("Enter")
    row = page.locator(
        "[data-testid=bill]", has=page.locator(f"input[name=bill_id][value='{bill.bill_id}']")
    )
    await expect(row).to_have_count(1)
    await screenshot(page, f"portal-bills-{lang}")
    await accessible(page)
    await row.locator("button").click()

    await expect(page.locator("[data-testid=payment-status]")).to_have_attribute(
        "data-status", "quoted"
    )
    await screenshot(page, f"portal-quote-{lang}")
    await accessible(page)
    await page.locator("form[action$='/pay'] button").click()

    # The receipt refreshes itself (HTMX) until the biller, called by the outbox, answers.
    status = page.locator("[data-testid=payment-status]")
    await expect(status).to_have_attribute("data-status", "completed")
    await expect(status).to_contain_text(words["paid"])
    await expect(page.locator("h1")).to_contain_text(words["receipt"])
    await screenshot(page, f"portal-receipt-{lang}")
    await accessible(page)
    await no_full_numbers(page, phone)

    await page.goto("/me")
    await expect(page.locator("[data-testid=phone]")).to_have_text(phone[:3] + "****" + phone[-4:])
    await no_full_numbers(page, phone)
    await accessible(page)
