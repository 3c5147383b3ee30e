"""A resident in a real browser: signs in with a code sent by text message, finds a service,
pays a bill with the demo wallet and sees the receipt, in Simplified Chinese and in English."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import sms_texts
from tests.browser.world import WebWorld

CODE = re.compile(r"\b(\d{6})\b")


async def sign_in(page: Page, world: WebWorld, phone: str, next_url: str = "/") -> None:
    """Ask for a code, read it from the phone's text messages, enter it."""
    await page.goto(f"/sign-in?next={next_url}")
    await page.fill("#phone", phone)
    await page.locator("form[action='/sign-in/code'] button[type=submit]").click()
    await expect(page.locator("#code")).to_be_visible()
    texts = sms_texts(world.sim, phone)
    assert texts, "no text message reached the phone"
    found = CODE.search(texts[0])
    assert found, texts[0]
    await page.fill("#code", found.group(1))
    await page.locator("form[action='/sign-in/verify'] button[type=submit]").click()


async def pay_a_bill(page: Page, world: WebWorld, phone: str) -> str:
    """Sign in, pay an unpaid water bill and wait for the receipt; the payment's id."""
    bill = world.unpaid("water")
    await sign_in(page, world, phone, next_url=f"/c/webtown/pay/water?account={bill.account}")
    row = page.locator("tr", has=page.locator(f"input[name=bill_id][value='{bill.bill_id}']"))
    await row.locator("button").click()
    await page.locator("form[action$='/pay'] button").click()
    status = page.locator("[data-testid=payment-status]")
    await expect(status).to_have_attribute("data-status", "completed")
    return page.url.rsplit("/", 1)[-1]


async def no_full_numbers(page: Page, *numbers: str) -> None:
    """The page's HTML (source, hidden fields included) holds none of the numbers."""
    html = await page.content()
    for number in numbers:
        assert number not in html, f"{page.url} shows {number}"


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
    row = page.locator("tr", has=page.locator(f"input[name=bill_id][value='{bill.bill_id}']"))
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
