"""Booking a hospital appointment on the portal (pages without a browser): verification first,
book for oneself and for family members, pay the fee with the demo wallet, the QR code, cancel;
a full session offers its waitlist, a session not yet open says so; today's appointment on the
city page; another resident's booking does not exist."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from cityhub.appointments.models import Booking, BookingStatus, ClinicSession, Slot
from cityhub.billing.models import Payment, PaymentStatus
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.appointments.factories import id_number, the_day_comes
from tests.browser.world import FEE_FEN, WebWorld, web_world
from tests.helpers import move_past
from tests.identity.factories import PASSWORD
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import HOSPITAL, book, booking_id, signed_in, verified

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def add_member(browser: Browser, serial: int, relation: str) -> None:
    form = (await browser.get("/c/webtown/family")).form("/c/webtown/family")
    data = {**form.fields, "name": f"家人{serial}", "id_number": id_number(serial)}
    await browser.post("/c/webtown/family", data={**data, "relation": relation})


async def test_a_resident_books_pays_sees_the_code_and_cancels(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    phone = world.phones[0]
    await verified(browser, sim, phone, 1)
    hospital = await browser.get(HOSPITAL)
    assert "李明" in hospital.text and "心内科" in hospital.text
    assert hospital.text.count("李明") == 2  # tomorrow's and the one not open yet

    answer = await book(browser, world.sessions["open"])
    bk = booking_id(answer)
    url = f"/c/webtown/appointments/{bk}"
    held = await browser.get(url)
    assert 'data-status="held"' in held.response.text
    assert "¥15.00" in held.text and f"{url}/pay" in [f.action for f in held.forms]
    assert "checkin-code" not in held.response.text  # no code until the fee is paid

    await browser.post(f"{url}/pay", data=held.form(f"{url}/pay").fields)
    waiting = await browser.get(url)
    assert 'hx-trigger="every 1s"' in waiting.response.text  # refreshes until it is booked
    await drain(db, settings)
    booked = await browser.get(url)
    assert 'data-status="booked"' in booked.response.text
    assert "<svg" in booked.response.text and 'data-testid="qr"' in booked.response.text
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Booking).where(Booking.public_id == bk))
        assert row is not None
        payment = await session.get(Payment, row.payment_id)
    assert row.checkin_code in booked.text
    assert payment is not None and payment.status == PaymentStatus.COMPLETED
    assert payment.amount_fen == FEE_FEN and payment.user_id.startswith("phone:")
    for text in (booked.response.text, hospital.response.text):
        assert phone not in text and id_number(1) not in text

    mine = await browser.get("/c/webtown/appointments")
    assert bk in mine.response.text

    # Cancelling asks first, on a page of its own (no script needed); the fee goes back.
    assert f"{url}/cancel" in booked.response.text and f"{url}/cancel" not in [
        f.action for f in booked.forms
    ]
    asked = await browser.get(f"{url}/cancel")
    assert 'data-testid="cancel-what"' in asked.response.text and "¥15.00" in asked.text
    unconfirmed = {k: v for k, v in asked.form(f"{url}/cancel").fields.items() if k != "confirm"}
    again = await browser.post(f"{url}/cancel", data=unconfirmed, expect=200)  # asked again
    assert 'data-testid="confirm-cancel"' in again.response.text
    assert 'data-status="booked"' in (await browser.get(url)).response.text
    cancelled = await browser.post(f"{url}/cancel", data=asked.form(f"{url}/cancel").fields)
    assert cancelled.response.headers["location"] == url
    after = await browser.get(url)
    assert 'data-status="cancelled"' in after.response.text and "<svg" not in after.response.text
    async with db.unit_of_work() as session:
        slot = await session.get(Slot, row.slot_id)
        refunded = await session.get(Payment, row.payment_id)
    assert slot is not None and slot.taken == 0
    assert refunded is not None and refunded.refunded_fen == refunded.amount_fen

    # The city's staff see the booking among today's (cancelled since, but it was made).
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    overview = await browser.get("/console/c/webtown/overview")
    assert 'data-testid="bookings-today">1<' in overview.response.text


async def test_a_full_session_offers_its_waitlist_and_a_freed_place_is_offered(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    await add_member(browser, 2, "child")
    await add_member(browser, 3, "parent")
    family = await browser.get("/c/webtown/family")
    assert (
        family.response.text.count('data-testid="member"') == 2
        and id_number(2) not in family.response.text
    )
    members = re.findall(
        r'<option value="(fm-[0-9a-f]+)"',
        (await browser.get(f"{HOSPITAL}/{world.sessions['open']}")).response.text,
    )
    assert len(members) == 2
    first = booking_id(await book(browser, world.sessions["open"]))
    await book(browser, world.sessions["open"], patient=members[0])
    # The first slot is now full; the second (one place) is the only one left.
    await book(browser, world.sessions["open"], slot=1, patient=members[1])
    full = await browser.get(f"{HOSPITAL}/{world.sessions['open']}")
    assert 'data-testid="full"' in full.response.text

    browser.client.cookies.clear()
    await verified(browser, sim, world.phones[1], 4)
    url = f"{HOSPITAL}/{world.sessions['open']}"
    page = await browser.get(url)
    assert 'data-testid="full"' in page.response.text
    await browser.post(f"{url}/waitlist", data=page.form(f"{url}/waitlist").fields)
    again = await browser.post(
        f"{url}/waitlist", data=page.form(f"{url}/waitlist").fields, expect=409
    )
    assert 'data-code="already_waiting"' in again.response.text
    line = await browser.get("/c/webtown/appointments")
    assert 'data-testid="waiting"' in line.response.text
    # Another resident's booking does not exist for this one.
    await browser.get(f"/c/webtown/appointments/{first}", expect=404)

    from cityhub.appointments import flows
    from cityhub.cities.models import City

    async with db.unit_of_work() as session:  # the first resident's hold ends unpaid
        row = await session.scalar(select(Booking).where(Booking.public_id == first))
        assert row is not None and row.hold_expires_at is not None
        quote = await session.scalar(
            select(Payment.quote_expires_at).where(Payment.id == row.payment_id)
        )
    assert quote is not None
    move_past(hub_clock, max(row.hold_expires_at, quote))
    async with db.unit_of_work() as session:
        city = await session.get(City, world.city.id)
        assert city is not None
        assert await flows.release_hold(session=session, city=city, booking_id=row.id)
    offered = await browser.get("/c/webtown/appointments")
    offer = re.search(r"/c/webtown/appointments/(bk-[0-9a-f]+)", offered.response.text)
    assert offer is not None
    offer_page = await browser.get(offer.group(0))
    assert 'data-status="offered"' in offer_page.response.text
    taken = await browser.post(
        offer.group(0) + "/accept", data=offer_page.form(offer.group(0) + "/accept").fields
    )
    assert taken.response.headers["location"] == offer.group(0)
    held = await browser.get(offer.group(0))
    assert 'data-status="held"' in held.response.text  # the fee to pay, as any booking
    again = await browser.post(
        offer.group(0) + "/accept",
        data=offer_page.form(offer.group(0) + "/accept").fields,
        expect=409,
    )
    assert 'data-code="offer_closed"' in again.response.text


async def test_a_session_not_open_yet_says_when_and_refuses_a_booking(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    url = f"{HOSPITAL}/{world.sessions['later']}"
    page = await browser.get(url)
    assert 'data-testid="not-open"' in page.response.text
    assert url not in [f.action for f in page.forms]  # nothing to book yet
    async with db.unit_of_work() as session:
        slot = await session.scalar(
            select(Slot.public_id)
            .join(ClinicSession, ClinicSession.id == Slot.session_id)
            .where(ClinicSession.public_id == world.sessions["later"])
        )
    token = page.forms[-1].fields.get("csrf_token") if page.forms else None
    token = (
        token
        or (await browser.get("/c/webtown/family")).form("/c/webtown/family").fields["csrf_token"]
    )
    refused = await browser.post(url, data={"csrf_token": token, "slot": slot}, expect=409)
    assert 'data-code="booking_not_open"' in refused.response.text
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Booking))).all() == []
        taken = await session.scalar(select(Slot.taken).where(Slot.public_id == slot))
    assert taken == 0


async def test_todays_appointment_needs_attention_on_the_city_page(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    bk = booking_id(await book(browser, world.sessions["open"]))
    city = await browser.get("/c/webtown")
    assert f"/c/webtown/appointments/{bk}" not in city.response.text  # tomorrow is not today
    await the_day_comes(db, bk, hub_clock)
    browser.client.cookies.clear()  # the session of the day before has run out: sign in again
    await signed_in(browser, sim, world.phones[0])
    city = await browser.get("/c/webtown")
    assert f"/c/webtown/appointments/{bk}" in city.response.text
    assert "今天的预约" in city.text
    async with db.unit_of_work() as session:
        await session.execute(
            update(Booking).where(Booking.public_id == bk).values(status=BookingStatus.CANCELLED)
        )
    assert f"/c/webtown/appointments/{bk}" not in (await browser.get("/c/webtown")).response.text


async def test_the_city_page_links_the_hospital_and_the_nav_my_appointments(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    city = await browser.get("/c/webtown")
    assert f'href="{HOSPITAL}"' in city.response.text
    assert 'href="/c/webtown/appointments"' in city.response.text
