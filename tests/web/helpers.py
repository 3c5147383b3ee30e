"""Helpers of the page tests: sign in on the portal with the code the simulated SMS gateway
delivered, quote a bill, follow notices, verify one's identity and book an appointment."""

from __future__ import annotations

import re

from cityhub.simulators import Person
from tests.browser.world import WebWorld
from tests.simulators.fixtures import Sim
from tests.web.browser import Browser, Page

PHONE = "13800138000"
CODE = re.compile(r"\b(\d{6})\b")
HOSPITAL = "/c/webtown/book/hospital"
PROBLEM = re.compile(r'data-testid="problem" data-code="([a-z_]+)"')
BOOKING = re.compile(r"^/c/webtown/appointments/(bk-[0-9a-f]+)$")


def problem_of(page: Page) -> str | None:
    """The problem code a page says it met (`data-testid="problem"`), if any."""
    found = PROBLEM.search(page.response.text)
    return found.group(1) if found else None


# --- signing in ---------------------------------------------------------------------------


async def ask_code(browser: Browser, phone: str = PHONE, *, expect: int = 200) -> Page:
    """Ask for a sign-in code for `phone`; the page to enter it on."""
    form = (await browser.get("/sign-in?next=/me")).form("/sign-in/code")
    return await browser.post("/sign-in/code", data={**form.fields, "phone": phone}, expect=expect)


def last_code(sim: Sim, phone: str = PHONE) -> str:
    """The newest code the simulated SMS gateway delivered to `phone`."""
    texts = sim.control.get("/sms/sim-sms/messages", params={"to": phone}).json()["messages"]
    found = CODE.search(texts[0]["text"])
    assert found
    return found.group(1)


async def enter(browser: Browser, page: Page, code: str, *, expect: int) -> Page:
    """Enter a code on the page `ask_code` answered."""
    form = page.form("/sign-in/verify")
    return await browser.post("/sign-in/verify", data={**form.fields, "code": code}, expect=expect)


async def signed_in(browser: Browser, sim: Sim, phone: str) -> None:
    """Sign in as `phone` (ask for a code, enter it)."""
    page = await ask_code(browser, phone)
    await enter(browser, page, last_code(sim, phone), expect=303)


async def verified(browser: Browser, sim: Sim, phone: str, serial: int) -> None:
    """Sign in and verify one's identity through the portal's own form."""
    await signed_in(browser, sim, phone)
    asked = await browser.get(HOSPITAL, expect=303)
    assert asked.response.headers["location"].startswith("/verify?next=/c/webtown/book/hospital")
    form = (await browser.get(asked.response.headers["location"])).form("/verify")
    data = {
        **form.fields,
        "name": sim.world.people[serial].name,  # the registry holds the simulated people
        "id_number": sim.world.people[serial].id_number,
        "consent": "yes",
    }
    back = await browser.post("/verify", data=data)
    assert back.response.headers["location"] == HOSPITAL


async def verify(browser: Browser, person: Person, next_url: str) -> None:
    """Verify the signed-in resident as `person` with webtown's registry, coming back to
    `next_url`."""
    form = (await browser.get(f"/verify?next={next_url}")).form("/verify")
    data = {
        **form.fields,
        "city": "webtown",
        "name": person.name,
        "id_number": person.id_number,
        "consent": "yes",
    }
    await browser.post("/verify", data=data)


# --- paying, notices, appointments --------------------------------------------------------


async def quote(browser: Browser, world: WebWorld) -> str:
    """Look up the unpaid water bill and ask for a quote; where the portal sent the browser."""
    bill = world.unpaid("water")
    page = await browser.get(f"/c/webtown/pay/water?account={bill.account}")
    form = next(f for f in page.forms if f.fields.get("bill_id") == bill.bill_id)
    quoted = await browser.post("/c/webtown/pay/water", data=form.fields)
    location: str = quoted.response.headers["location"]
    return location


async def follow(browser: Browser, city: str = "webtown", topic: str | None = None) -> None:
    """Follow a city's notices (of one topic, or all of them)."""
    page = await browser.get(f"/c/{city}/notices")
    forms = [f for f in page.forms if f.action == f"/c/{city}/notices/follow"]
    form = next(f for f in forms if f.fields.get("topic") == topic)
    await browser.post(f"/c/{city}/notices/follow", data=form.fields)


def slots_of(page: Page) -> list[str]:
    """The ids of the slots a session page offers."""
    return re.findall(r'name="slot" value="(sl-[0-9a-f]+)"', page.response.text)


async def book(
    browser: Browser, session_id: str, *, slot: int = 0, patient: str = "", expect: int = 303
) -> Page:
    """Book a slot of a clinic session on the portal."""
    url = f"{HOSPITAL}/{session_id}"
    page = await browser.get(url)
    form = page.form(url)
    data = {**form.fields, "slot": slots_of(page)[slot], "patient": patient}
    return await browser.post(url, data=data, expect=expect)


def booking_id(answer: Page) -> str:
    """The booking's public id, from where a booking sent the browser."""
    found = BOOKING.match(answer.response.headers["location"])
    assert found, answer.response.headers["location"]
    return found.group(1)
