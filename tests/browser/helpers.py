"""Helpers of the browser tests: a resident signs in with the code texted to the phone and
pays a bill, staff sign in to the console, no page holds a full number."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import Page, expect

from tests.browser.world import WebWorld
from tests.identity.factories import PASSWORD
from tests.simulators.fixtures import Sim

CODE = re.compile(r"\b(\d{6})\b")


def sms_texts(sim: Sim, phone: str) -> list[str]:
    """The texts the simulated SMS gateway delivered to `phone`, newest first."""
    answer = httpx.get(
        f"{sim.url}/sms/sim-sms/messages", params={"to": phone}, timeout=10, trust_env=False
    )
    answer.raise_for_status()
    return [m["text"] for m in answer.json()["messages"]]


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


async def verify(page: Page, world: WebWorld, serial: int) -> None:
    """The portal sends an unverified resident to the identity form first, then back."""
    person = world.sim.world.people[serial]  # the population registry holds these people
    await expect(page.locator("#id_number")).to_be_visible()
    await page.fill("#name", person.name)
    await page.fill("#id_number", person.id_number)
    await page.check("#consent")
    await page.locator("form[action='/verify'] button[type=submit]").click()


async def pay_a_bill(page: Page, world: WebWorld, phone: str) -> str:
    """Sign in, pay an unpaid water bill and wait for the receipt; the payment's id."""
    bill = world.unpaid("water")
    await sign_in(page, world, phone, next_url=f"/c/webtown/pay/water?account={bill.account}")
    row = page.locator(
        "[data-testid=bill]", has=page.locator(f"input[name=bill_id][value='{bill.bill_id}']")
    )
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


async def staff_sign_in(page: Page, username: str) -> None:
    """Sign in to the console as a staff member (the factories' password)."""
    await page.goto("/console")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.locator("form[action='/console/sign-in'] button").click()
    await expect(page.locator("form[action='/console/sign-out']")).to_have_count(1)


# What a finger aims at must be 44 x 44 CSS px (WCAG 2.5.5): a radio button or a checkbox
# through its label; a link inside a sentence (in a paragraph, a definition, a table cell) is
# as tall as its text and exempt, as WCAG exempts inline targets.
TOO_SMALL = """() => {
  const found = [];
  const inline = el => el.tagName === 'A' && !el.classList.contains('button')
    && el.closest('p, dd, td, .muted, .demo') !== null;
  for (const el of document.querySelectorAll(
      'a[href], button, select, textarea, input:not([type=hidden])')) {
    const style = getComputedStyle(el);
    if (el.closest('.skip, .visually-hidden') || style.visibility === 'hidden') continue;
    let box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (el.type === 'radio' || el.type === 'checkbox') {
      const label = el.id ? document.querySelector(`label[for="${el.id}"]`) : el.closest('label');
      if (!label) { found.push('no label: ' + el.outerHTML.slice(0, 80)); continue; }
      box = label.getBoundingClientRect();
    } else if (inline(el)) continue;
    if (box.width < 44 || box.height < 44) {
      found.push(`${Math.round(box.width)}x${Math.round(box.height)} ${el.outerHTML.slice(0, 90)}`);
    }
  }
  return found;
}"""


async def touch_targets_ok(page: Page) -> None:
    """Every target on the page is at least 44 x 44 CSS px, and focus is drawn."""
    small = await page.evaluate(TOO_SMALL)
    assert not small, f"{page.url}: targets under 44 x 44 px:\n" + "\n".join(small)
    await page.keyboard.press("Tab")  # the skip link first: focus must be visible on it
    outline = await page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none" and outline[1] >= 2, f"{page.url}: focus not drawn: {outline}"
