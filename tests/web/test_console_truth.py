"""The console's figures tell the truth: payments found by account or number and filtered by
day, channel, service and status; the overview summed by the database over every payment of
the month (not the newest thousand); applicants counted while a round is open; a day with
nothing to settle said so. Another city's staff see none of it."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from cityhub.billing.models import Payment, PaymentStatus
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from cityhub.simulators import RunningServer
from tests.billing.factories import payment_row
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD, create_channel
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser, Page
from tests.web.helpers import quote, signed_in, verified

__all__ = ["sim", "simulator"]
BASE = "/console/c/webtown"
PAYMENTS = f"{BASE}/payments"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def paid(browser: Browser, world: WebWorld, db: Database, settings: Settings) -> str:
    """A resident pays a water bill on the portal; the payment's number."""
    payment_url = await quote(browser, world)
    page = await browser.get(payment_url)
    await browser.post(payment_url + "/pay", data=page.form(payment_url + "/pay").fields)
    await drain(db, settings)
    return payment_url.rsplit("/", 1)[-1]


def found(page: Page) -> list[str]:
    """The payment numbers a list page shows."""
    html = page.response.text
    return [
        row.split("/payments/")[1].split('"')[0] for row in html.split('data-testid="payment"')[1:]
    ]


async def test_payments_are_found_by_account_or_number_and_filtered(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    bill = world.unpaid("water")
    world.used.discard(bill.bill_id)  # `quote` takes the first unpaid bill again
    payment_id = await paid(browser, world, db, settings)
    other = await create_channel(db)
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    today = dt.datetime.now(ZoneInfo(world.city.timezone)).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()

    listed = await browser.get(PAYMENTS)
    portal = listed.form(PAYMENTS).fields  # the filter form (its selects start at "any")
    assert found(listed) == [payment_id]
    channel_slug = world.portal.channel.slug
    for query, expected in [
        ({"q": bill.account}, [payment_id]),
        ({"q": payment_id}, [payment_id]),
        ({"q": "9999999999"}, []),
        ({"channel": channel_slug, "start": today.isoformat(), "end": today.isoformat()},
         [payment_id]),
        ({"channel": other.channel.slug}, []),
        ({"start": tomorrow}, []),
        ({"end": (today - dt.timedelta(days=1)).isoformat()}, []),
        ({"service": "water", "status": "completed"}, [payment_id]),
        ({"service": "power"}, []),
        ({"status": "quoted"}, []),
    ]:  # fmt: skip
        page = await browser.get(PAYMENTS, params={**portal, **query})
        assert found(page) == expected, query
    shown = await browser.get(PAYMENTS, params={"q": bill.account})
    assert "已支付，收费单位已受理" in shown.text and "水费" in shown.text
    assert "completed" not in shown.text and "water-bill" not in shown.text

    for bad in ({"channel": "nobody"}, {"service": "nothing"}, {"start": "yesterday"},
                {"status": "lost"}):  # fmt: skip
        await browser.get(PAYMENTS, params=bad, expect=400)

    browser.client.cookies.clear()
    await browser.sign_in(world.other_admin.username, PASSWORD)
    await browser.get(PAYMENTS, params={"q": bill.account}, expect=404)
    theirs = await browser.get("/console/c/othertown/payments", params={"q": bill.account})
    assert found(theirs) == []


async def test_the_overview_sums_every_payment_of_the_month_in_the_database(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_id = await paid(browser, world, db, settings)
    first = await payment_row(db, payment_id)
    now = utcnow()
    many = 1_200  # more than the thousand newest the page used to read
    rows = [
        {
            "city_id": first.city_id,
            "public_id": f"pay_{uuid.uuid4().hex}",
            "channel_id": first.channel_id,
            "service_id": first.service_id,
            "bill_id": first.bill_id,
            "amount_fen": 100,
            "total_fen": 100,
            "currency": first.currency,
            "status": PaymentStatus.COMPLETED if i < many else PaymentStatus.FAILED,
            "quote_expires_at": now,
            "created_at": now,
            "confirmed_at": now,
        }
        for i in range(many + 5)  # and five the biller refused: not counted
    ]
    async with db.unit_of_work() as session:
        await session.execute(insert(Payment), rows)
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    overview = await browser.get(f"{BASE}/overview")
    html = overview.response.text
    assert f'data-testid="month-count">{many + 1}<' in html
    assert f'data-testid="today-count">{many + 1}<' in html
    total = first.amount_fen + many * 100
    assert f"¥{total // 100:,}.{total % 100:02d}" in overview.text

    browser.client.cookies.clear()
    await browser.sign_in(world.other_admin.username, PASSWORD)
    theirs = await browser.get("/console/c/othertown/overview")
    assert 'data-testid="month-count">0<' in theirs.response.text


async def test_applicants_are_counted_while_the_round_is_open(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    page = await browser.get(f"{BASE}/lotteries")
    now = dt.datetime.now(ZoneInfo(world.city.timezone)).replace(second=0, microsecond=0)
    body = {
        **page.form(f"{BASE}/lotteries").fields,
        "service": "car-plates",
        "code": "plates-live",
        "kind": "car-plate",
        "title": "本月车牌",
        "opens_at": (now - dt.timedelta(minutes=5)).isoformat(timespec="minutes")[:16],
        "closes_at": (now + dt.timedelta(hours=1)).isoformat(timespec="minutes")[:16],
        "quota": "1",
        "commitment": hashlib.sha256(b"a secret").hexdigest(),
    }
    await browser.post(f"{BASE}/lotteries", data=body)
    before = await browser.get(f"{BASE}/lotteries")
    assert 'data-testid="applicants">0' in before.response.text

    serial = next(i for i, p in enumerate(sim.world.people) if not sim.world.car_lottery_reasons(p))
    browser.client.cookies.clear()
    await verified(browser, sim, world.phones[0], serial)
    plates = "/c/webtown/lottery/car-plates"
    apply_url = f"{plates}/plates-live/apply"
    form = (await browser.get(plates)).form(apply_url)
    await browser.post(apply_url, data=form.fields)

    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    after = await browser.get(f"{BASE}/lotteries")
    assert 'data-testid="applicants">1' in after.response.text
    assert "accepting" not in after.text and "正在接受申请" in after.text


async def test_settlement_opens_on_today_and_says_when_there_is_nothing_to_settle(
    browser: Browser, world: WebWorld
) -> None:
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    page = await browser.get(f"{BASE}/settlement")
    today = dt.datetime.now(ZoneInfo(world.city.timezone)).date().isoformat()
    assert f'value="{today}"' in page.response.text
    assert 'data-testid="nothing-to-settle"' in page.response.text
    assert "无需结算或对账" in page.text and "没有批次：无需结算。" in page.text
