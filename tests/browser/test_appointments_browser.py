"""Hospital appointments in a real browser: a resident signs in, verifies, books tomorrow's
session, pays the fee with the demo wallet, sees the check-in QR code and cancels, in
Simplified Chinese and in English; the hospital's desk finds the booking by its code and checks
the patient in; another city's staff find none of the hospital pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from cityhub.appointments.models import Booking
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.appointments.factories import the_day_comes
from tests.browser.helpers import no_full_numbers, sign_in, staff_sign_in, verify
from tests.browser.world import WebWorld

HOSPITAL = "/c/webtown/book/hospital"
DESK_PAGES = ["/hospitals", "/hospitals/waitlists", "/check-in"]

pytestmark = pytest.mark.slow  # a real browser: seconds a test


async def book_and_pay(page: Page, world: WebWorld, phone: str, serial: int) -> str:
    """Sign in, verify, book tomorrow's first slot, pay the fee; the booking's id."""
    await sign_in(page, world, phone, next_url=HOSPITAL)
    await verify(page, world, serial)
    await page.locator(f"a[href$='/{world.sessions['open']}']").click()
    await page.locator(f"form[action$='/{world.sessions['open']}'] button[type=submit]").click()
    await page.locator("[data-testid=pay-fee]").click()
    status = page.locator("[data-testid=booking-status]")
    await expect(status).to_have_attribute("data-status", "booked")
    return page.url.rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "zh-Hans",
            {"booked": "已预约", "full": "剩余", "cancelled": "已取消", "later": "尚未开放"},
        ),
        (
            "en",
            {
                "booked": "Booked",
                "full": "places left",
                "cancelled": "Cancelled",
                "later": "not open",
            },
        ),
    ],
)
async def test_a_resident_books_pays_sees_the_qr_code_and_cancels(
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
    await sign_in(page, world, phone, next_url=HOSPITAL)
    await verify(page, world, 1)

    sessions = page.locator("[data-testid=session]")
    await expect(sessions).to_have_count(2)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await screenshot(page, f"portal-hospital-{lang}")
    await accessible(page)

    await page.locator(f"a[href$='/{world.sessions['later']}']").click()
    await expect(page.locator("[data-testid=not-open]")).to_contain_text(words["later"])
    await screenshot(page, f"portal-session-not-open-{lang}")
    await accessible(page)
    await page.go_back()

    await page.locator(f"a[href$='/{world.sessions['open']}']").click()
    await expect(page.locator("fieldset")).to_contain_text(words["full"])
    await screenshot(page, f"portal-session-{lang}")
    await accessible(page)
    await page.locator(f"form[action$='/{world.sessions['open']}'] button[type=submit]").click()

    status = page.locator("[data-testid=booking-status]")
    await expect(status).to_have_attribute("data-status", "held")
    await screenshot(page, f"portal-appointment-fee-{lang}")
    await accessible(page)
    await page.locator("[data-testid=pay-fee]").click()

    # The page refreshes itself (HTMX) until the fee's payment completes through the outbox.
    await expect(status).to_have_attribute("data-status", "booked")
    await expect(status).to_contain_text(words["booked"])
    await expect(page.locator("[data-testid=qr] svg")).to_be_visible()
    await expect(page.locator("[data-testid=checkin-code]")).to_have_text(
        re.compile(r"^[A-Z2-9]{10}$")
    )
    await screenshot(page, f"portal-appointment-qr-{lang}")
    await accessible(page)
    await no_full_numbers(page, phone, world.sim.world.people[1].id_number)

    await page.locator("[data-testid=cancel]").click()  # asked first, on a page of its own
    await page.locator("[data-testid=confirm-cancel]").click()
    await expect(status).to_have_attribute("data-status", "cancelled")
    await expect(status).to_contain_text(words["cancelled"])
    await expect(page.locator("[data-testid=qr]")).to_have_count(0)

    await page.goto("/c/webtown/appointments")
    await expect(page.locator("[data-testid=booking]")).to_have_count(1)
    await screenshot(page, f"portal-my-appointments-{lang}")
    await accessible(page)


async def test_the_desk_checks_in_and_another_citys_staff_see_no_hospital_page(
    chromium: Browser,
    context: BrowserContext,
    page: Page,
    world: WebWorld,
    db: Database,
    hub: str,
    screenshot: Any,
    accessible: Any,
    hub_clock: Clock,
) -> None:
    resident = await context.new_page()
    booking = await book_and_pay(resident, world, world.phones[1], 2)
    await the_day_comes(db, booking, hub_clock)  # the patient comes on the day
    async with db.unit_of_work() as session:
        code = await session.scalar(
            select(Booking.checkin_code).where(Booking.public_id == booking)
        )
    assert code is not None

    await page.context.clear_cookies()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await staff_sign_in(page, world.clerk.username)
    await page.goto("/console/c/webtown/hospitals")
    await expect(page.locator("[data-testid=session]")).to_have_count(2)
    await screenshot(page, "console-hospitals")
    await accessible(page)

    await page.goto("/console/c/webtown/check-in")
    await page.fill("#code", code)
    await page.locator("#code").press("Enter")
    await expect(page.locator("[data-testid=booking-status]")).to_have_attribute(
        "data-status", "booked"
    )
    patient = world.sim.world.people[2].id_number  # the person verified in book_and_pay
    await expect(page.locator("[data-testid=patient]")).to_have_text(
        patient[:3] + "*" * 11 + patient[-4:]
    )
    await page.locator("[data-testid=check-in]").click()
    await expect(page.locator("[data-testid=booking-status]")).to_have_attribute(
        "data-status", "checked_in"
    )
    await screenshot(page, "console-check-in")
    await accessible(page)
    await no_full_numbers(page, patient, world.phones[1])

    await page.goto("/console/c/webtown/hospitals/waitlists")
    await accessible(page)

    other = await chromium.new_context(base_url=hub)
    try:
        stranger = await other.new_page()
        await staff_sign_in(stranger, world.other_admin.username)
        for path in [*DESK_PAGES, f"/check-in?code={code}"]:
            answer = await stranger.goto(f"/console/c/webtown{path}")
            assert answer is not None and answer.status == 404, path
            assert booking not in await stranger.content()
        answer = await stranger.goto("/console/c/othertown/check-in?code=" + code)
        assert answer is not None and answer.status == 404  # no such booking in their city
        assert booking not in await stranger.content()
    finally:
        await other.close()
