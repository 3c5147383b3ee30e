"""The console's operations pages: connectors (breaker, calls, latency), the grants editor,
settlement batches and reconciliation with CSV export, lottery rounds from creation to
publication; admins act, auditors read, another city's staff see nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

import pytest

from cityhub.identity.models import Role, StaffUser
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.lottery.factories import end_window
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import quote, signed_in

__all__ = ["sim", "simulator"]
BASE = "/console/c/webtown"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def as_staff(browser: Browser, user: StaffUser) -> str:
    """Sign in; the session's CSRF token."""
    browser.client.cookies.clear()
    await browser.sign_in(user.username, PASSWORD)
    return (await browser.sign_out_form()).fields["csrf_token"]


async def test_connectors_show_the_breaker_calls_and_latency(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    await browser.get(f"/c/webtown/pay/water?account={world.unpaid('water').account}")
    await as_staff(browser, world.admin)

    page = await browser.get(f"{BASE}/connectors")
    html = page.response.text
    water = html.split('data-testid="connector-water"')[1].split("</tr>")[0]
    assert "闭合（正常调用）" in water and " ms" in water
    power = html.split('data-testid="connector-power"')[1].split("</tr>")[0]
    assert "尚未调用" in power or "闭合" in power


async def test_admins_grant_and_withdraw_auditors_cannot(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    other = await create_channel(db, slug="wallet-app")
    token = await as_staff(browser, world.admin)
    page = await browser.get(BASE)
    form = page.form(f"{BASE}/grants").fields
    assert form["csrf_token"] == token
    await browser.post(f"{BASE}/grants", data={**form, "channel": "wallet-app", "service": "water"})
    again = await browser.post(
        f"{BASE}/grants", data={**form, "channel": "wallet-app", "service": "water"}, expect=409
    )
    assert again.status == 409
    page = await browser.get(BASE)
    assert other.channel.name in page.text
    withdraw = [f for f in page.forms if f.action.endswith("/delete")]
    before = len(withdraw)

    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR, username="webaudit")
    token = await as_staff(browser, auditor)
    seen = await browser.get(BASE)
    assert not [f for f in seen.forms if "grants" in f.action]  # no editor for an auditor
    await browser.post(withdraw[-1].action, data={"csrf_token": token}, expect=403)
    await browser.post(
        f"{BASE}/grants",
        data={"csrf_token": token, "channel": "wallet-app", "service": "power"},
        expect=403,
    )

    token = await as_staff(browser, world.admin)
    await browser.post(withdraw[-1].action, data={"csrf_token": token})
    page = await browser.get(BASE)
    assert len([f for f in page.forms if f.action.endswith("/delete")]) == before - 1

    token = await as_staff(browser, world.other_admin)
    await browser.post(withdraw[0].action, data={"csrf_token": token}, expect=404)
    await browser.get(BASE, expect=404)


async def test_settlement_and_reconciliation_with_csv_export(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    await signed_in(browser, sim, world.phones[0])
    payment_url = await quote(browser, world)
    page = await browser.get(payment_url)
    await browser.post(payment_url + "/pay", data=page.form(payment_url + "/pay").fields)
    await drain(db, settings)
    today = dt.datetime.now(ZoneInfo(world.city.timezone)).date().isoformat()

    token = await as_staff(browser, world.admin)
    empty = await browser.get(f"{BASE}/settlement?day={today}")
    assert "当日还没有结算批次" in empty.text
    await browser.post(f"{BASE}/settlement", data={"csrf_token": token, "day": today})
    made = await browser.get(f"{BASE}/settlement?day={today}")
    assert 'data-testid="batches"' in made.response.text and "应付 水费" in made.text
    exported = await browser.client.get(f"{BASE}/settlement/{today}/batches.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = exported.text.splitlines()
    assert lines[0].startswith("id,day,party") and any(",biller,water," in x for x in lines)

    await browser.post(f"{BASE}/reconciliation", data={"csrf_token": token, "day": today})
    report = await browser.get(f"{BASE}/settlement?day={today}")
    assert 'data-testid="reconciliation"' in report.response.text
    recon = await browser.client.get(f"{BASE}/settlement/{today}/reconciliation.csv")
    assert recon.status_code == 200 and payment_url.rsplit("/", 1)[-1] in recon.text

    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR, username="webaudit2")
    token = await as_staff(browser, auditor)
    read = await browser.get(f"{BASE}/settlement?day={today}")
    assert not [f for f in read.forms if f.method == "post" and "settlement" in f.action]
    await browser.post(f"{BASE}/settlement", data={"csrf_token": token, "day": today}, expect=403)

    await as_staff(browser, world.other_admin)
    await browser.get(f"{BASE}/settlement?day={today}", expect=404)
    gone = await browser.client.get(f"{BASE}/settlement/{today}/reconciliation.csv")
    assert gone.status_code == 404
    other = await browser.get(f"/console/c/othertown/settlement?day={today}")
    assert 'data-testid="batches"' not in other.response.text


async def test_a_round_from_creation_to_publication(
    browser: Browser, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    token = await as_staff(browser, world.admin)
    page = await browser.get(f"{BASE}/lotteries")
    form = page.form(f"{BASE}/lotteries").fields
    now = dt.datetime.now(ZoneInfo(world.city.timezone)).replace(second=0, microsecond=0)
    secret = "a secret of the city"
    body = {
        **form,
        "service": "car-plates",
        "code": "plates-web",
        "kind": "car-plate",
        "title": "Plates, this month",
        "opens_at": (now - dt.timedelta(minutes=5)).isoformat(timespec="minutes")[:16],
        "closes_at": (now + dt.timedelta(hours=1)).isoformat(timespec="minutes")[:16],
        "quota": "2",
        "commitment": "not hex",
    }
    bad = await browser.post(f"{BASE}/lotteries", data=body, expect=422)
    assert "commitment" in bad.text
    body["commitment"] = hashlib.sha256(secret.encode()).hexdigest()
    await browser.post(f"{BASE}/lotteries", data=body)
    listed = await browser.get(f"{BASE}/lotteries")
    assert "Plates, this month" in listed.text and 'data-phase="accepting"' in listed.response.text
    await end_window(db, "plates-web", hub_clock)

    step = f"{BASE}/lotteries/plates-web"
    await browser.post(f"{step}/close", data={"csrf_token": token})
    wrong = await browser.post(
        f"{step}/draw",
        data={"csrf_token": token, "secret": "not it", "public_value": "42"},
        expect=422,
    )
    assert "操作未成功" in wrong.text and "does not match the commitment" in wrong.text
    await browser.post(
        f"{step}/draw", data={"csrf_token": token, "secret": secret, "public_value": "42"}
    )
    await browser.post(f"{step}/publish", data={"csrf_token": token})
    done = await browser.get(f"{BASE}/lotteries")
    assert 'data-phase="published"' in done.response.text
    assert "/files/results.json" in done.response.text

    await as_staff(browser, world.other_admin)
    await browser.get(f"{BASE}/lotteries", expect=404)
    assert "Plates, this month" not in (await browser.get("/console/c/othertown/lotteries")).text
