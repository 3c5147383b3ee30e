"""A resident's walk on a 360 x 740 phone in each language: sign in and verify, browse the
hospital, book a session with a registration fee and pay it, find the payment in "my
payments" with its date and time, open its receipt (number, verification QR code, PDF) and
check it on the hub's verification page, cancel the appointment after confirming, and see who
accessed their personal data. Every page passes axe-core and has 44 x 44 px targets."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.helpers import no_full_numbers, sign_in, touch_targets_ok
from tests.browser.test_appointments_browser import HOSPITAL, verify
from tests.browser.world import PORTAL_NAMES, WebWorld

pytestmark = pytest.mark.slow  # a real browser: seconds a test

ENDONYM = {"zh-Hans": "简体中文", "zh-Hant": "繁體中文", "en": "English"}
WORDS = {
    "zh-Hans": {"fee": "挂号费", "receipt": "电子回执", "genuine": "真实有效",
                "cancelled": "已取消", "verified": "核验了您的身份"},
    "zh-Hant": {"fee": "掛號費", "receipt": "電子回執", "genuine": "真實有效",
                "cancelled": "已取消", "verified": "核驗了您的身分"},
    "en": {"fee": "Registration fee", "receipt": "Electronic receipt", "genuine": "genuine",
           "cancelled": "Cancelled", "verified": "Your identity was verified"},
}  # fmt: skip


async def checked(page: Page, accessible: Any, screenshot: Any, name: str) -> None:
    """A screenshot is kept, the page passes axe-core and its targets are big enough."""
    await screenshot(page, name)  # before the focus check moves the focus to the skip link
    await accessible(page)
    await touch_targets_ok(page)
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width} px wide: it scrolls sideways on a phone"


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_a_resident_books_pays_checks_the_receipt_cancels_and_sees_their_data(
    page: Page, world: WebWorld, screenshot: Any, accessible: Any, lang: str
) -> None:
    words, phone, person = WORDS[lang], world.phones[0], world.sim.world.people[1]
    assert page.viewport_size == {"width": 360, "height": 740}
    await page.goto("/")
    if lang != "zh-Hans":
        await page.get_by_role("link", name=ENDONYM[lang]).click()
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await checked(page, accessible, screenshot, f"walk-home-{lang}")
    await page.goto("/c/webtown")
    await checked(page, accessible, screenshot, f"walk-city-{lang}")

    await sign_in(page, world, phone, next_url=HOSPITAL)
    await checked(page, accessible, screenshot, f"walk-verify-{lang}")
    await verify(page, world, 1)
    await expect(page.locator("[data-testid=session]").first).to_contain_text(words["fee"])
    await checked(page, accessible, screenshot, f"walk-hospital-{lang}")

    await page.locator(f"a[href$='/{world.sessions['open']}']").first.click()
    await expect(page.locator("[data-testid=registration-fee]")).to_be_visible()
    await checked(page, accessible, screenshot, f"walk-session-{lang}")
    await page.locator(f"form[action$='/{world.sessions['open']}'] button[type=submit]").click()
    status = page.locator("[data-testid=booking-status]")
    await expect(status).to_have_attribute("data-status", "held")
    await checked(page, accessible, screenshot, f"walk-fee-{lang}")
    await page.locator("[data-testid=pay-fee]").click()
    await expect(status).to_have_attribute("data-status", "booked")
    await expect(page.locator("[data-testid=qr] svg")).to_be_visible()
    booking_url = page.url
    await checked(page, accessible, screenshot, f"walk-booked-{lang}")

    # The fee is a payment like any other: in "my payments", with its date and time.
    await page.goto("/c/webtown/payments")
    payment = page.locator("[data-testid=payment]")
    await expect(payment).to_have_count(1)
    await expect(payment.locator("[data-testid=payment-time]")).to_have_text(
        re.compile(r"\d{2}:\d{2}")
    )
    await checked(page, accessible, screenshot, f"walk-payments-{lang}")
    await payment.locator("a").click()
    receipt = page.locator("[data-testid=e-receipt]")
    await expect(receipt).to_contain_text(words["receipt"])
    await expect(page.locator("[data-testid=receipt-qr] svg")).to_be_visible()
    await expect(page.locator("[data-testid=paid-at]")).to_be_visible()
    await checked(page, accessible, screenshot, f"walk-receipt-{lang}")
    await no_full_numbers(page, phone, person.id_number)
    pdf = await page.request.get(
        await page.locator("[data-testid=receipt-pdf]").get_attribute("href") or ""
    )
    assert pdf.ok and (await pdf.body()).startswith(b"%PDF-")
    await page.locator("[data-testid=receipt-verify]").click()
    await expect(page.locator("[data-testid=verdict]")).to_have_attribute("data-valid", "true")
    await expect(page.locator("[data-testid=verdict]")).to_contain_text(words["genuine"])
    await checked(page, accessible, screenshot, f"walk-receipt-verified-{lang}")

    # Cancelling asks first; keeping it changes nothing, confirming cancels (and refunds).
    await page.goto(booking_url)
    await page.locator("[data-testid=cancel]").click()
    await expect(page.locator("[data-testid=cancel-what]")).to_be_visible()
    await checked(page, accessible, screenshot, f"walk-cancel-confirm-{lang}")
    await page.locator("[data-testid=keep]").click()
    await expect(status).to_have_attribute("data-status", "booked")
    await page.locator("[data-testid=cancel]").click()
    await page.locator("[data-testid=confirm-cancel]").click()
    await expect(status).to_have_attribute("data-status", "cancelled")
    await expect(status).to_contain_text(words["cancelled"])

    await page.goto("/me")
    await checked(page, accessible, screenshot, f"walk-me-{lang}")
    await page.locator("[data-testid=my-data]").click()
    await expect(page.locator("[data-testid=consent]").first).to_be_visible()
    accesses = page.locator("[data-testid=access]")
    await expect(accesses).to_have_count(2)  # the verification: the portal, the registry
    # Why, and by which app, in the reader's language (the purpose's code, the app's names).
    await expect(accesses.last).to_contain_text(words["verified"])
    await expect(accesses.last).to_contain_text(PORTAL_NAMES[lang])
    await checked(page, accessible, screenshot, f"walk-my-data-{lang}")
    await no_full_numbers(page, phone, person.id_number)


# The portal's other pages (those the walk above and the pillars' own browser tests do not
# reach), each checked the same way once the resident is signed in and verified.
OTHER_PAGES = [
    "/sign-in",
    "/c/webtown/appointments",
    "/c/webtown/family",
    "/c/webtown/notices",
    "/c/webtown/pay/water",
    "/c/webtown/query/air-quality",
    "/c/webtown/query/traffic-violations",
    "/c/webtown/lottery/car-plates",
    "/c/webtown/requests",
    "/c/webtown/requests/new",
    "/c/webtown/requests/public",
    "/c/webtown/requests/nearby",
    "/receipts/verify?t=not-a-receipt",
]


@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
async def test_every_other_portal_page_passes_axe_and_has_big_targets(
    page: Page, world: WebWorld, screenshot: Any, accessible: Any, lang: str
) -> None:
    await page.goto("/")
    if lang != "zh-Hans":
        await page.get_by_role("link", name=ENDONYM[lang]).click()
    await sign_in(page, world, world.phones[0], next_url=HOSPITAL)
    await verify(page, world, 1)
    for path in OTHER_PAGES:
        await page.goto(path)
        await expect(page.locator("h1").first).to_be_visible()
        name = path.strip("/").replace("/", "-").split("?")[0] or "home"
        await checked(page, accessible, screenshot, f"page-{name}-{lang}")
