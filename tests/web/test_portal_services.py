"""Queries and lotteries on the portal: the form drawn from the parameter schema, the answer as
a table, consent and verification for personal records, a provider that is down; applying to
a round, withdrawing, the result and the verification files once published."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.client import Api
from tests.identity.factories import PASSWORD
from tests.lottery.factories import SECRET, commitment, end_window
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import problem_of, signed_in, verify

__all__ = ["sim", "simulator"]
AIR = "/c/webtown/query/air-quality"
TRAFFIC = "/c/webtown/query/traffic-violations"
PLATES = "/c/webtown/lottery/car-plates"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def test_a_public_query_needs_nobody_and_answers_with_a_table(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings
) -> None:
    form = await browser.get(AIR)
    assert "区" in form.text and "浦东新区" in form.text  # the title and hint, in zh-Hans
    fields = form.form(AIR).fields
    assert "p_district" in fields

    bad = await browser.post(AIR, data={**fields, "p_district": ""}, expect=422)
    assert problem_of(bad) == "invalid_parameter" and "区的格式不对" in bad.text
    answer = await browser.post(AIR, data={**fields, "p_district": "浦东新区"}, expect=200)
    assert 'data-testid="answer"' in answer.response.text and "浦东新区" in answer.text

    sim.set("environment/sh-env", down=True)
    down = await browser.post(AIR, data={**fields, "p_district": "黄浦区"}, expect=503)
    assert problem_of(down) == "provider_unavailable" and "没有产生任何扣款" in down.text
    assert down.form(AIR).fields["p_district"] == "黄浦区"  # the form is still filled in

    # The answered query (not the failed one) counts on the console's overview.
    await drain(db, settings)
    await browser.sign_in(world.admin.username, PASSWORD)
    overview = await browser.get("/console/c/webtown/overview")
    assert 'data-testid="queries-today">1<' in overview.response.text


async def test_a_personal_query_needs_verification_and_consent(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    anonymous = await browser.get(TRAFFIC, expect=303)
    assert anonymous.response.headers["location"].startswith("/sign-in")
    await signed_in(browser, sim, world.phones[0])
    unverified = await browser.get(TRAFFIC, expect=303)
    assert unverified.response.headers["location"] == f"/verify?next={TRAFFIC}&city=webtown"
    person = sim.world.people[0]
    await verify(browser, person, TRAFFIC)

    form = (await browser.get(TRAFFIC)).form(TRAFFIC).fields
    assert form.pop("consent") == "yes"  # the box, left unticked below
    plate = person.plates[0]
    refused = await browser.post(TRAFFIC, data={**form, "p_plate": plate}, expect=422)
    assert problem_of(refused) == "consent_required" and "勾选下方的同意框" in refused.text
    answer = await browser.post(
        TRAFFIC, data={**form, "p_plate": plate, "consent": "yes"}, expect=200
    )
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    expected = sim.world.violations("sh-traffic", plate, today)
    assert expected and all(v["id"] in answer.text for v in expected)
    again = await browser.get(TRAFFIC)
    assert "consent" not in again.form(TRAFFIC).fields  # given once, kept
    assert person.id_number not in answer.response.text


async def test_a_resident_applies_withdraws_and_sees_the_published_result(
    browser: Browser, sim: Sim, world: WebWorld, api: Api, db: Database, hub_clock: Clock
) -> None:
    staff = await api.as_staff(world.admin.username, PASSWORD)
    now = dt.datetime.now(dt.UTC)
    rounds = "/v1/cities/webtown/lotteries"
    await staff.post(
        rounds,
        json={
            "code": "plates-1",
            "service": "car-plates",
            "kind": "car-plate",
            "title": "Car plates, December",
            "opens_at": (now - dt.timedelta(minutes=1)).isoformat(),
            "closes_at": (now + dt.timedelta(hours=1)).isoformat(),
            "quota": 1,
            "commitment": commitment(),
        },
    )
    person = next(p for p in sim.world.people if not sim.world.car_lottery_reasons(p))
    await signed_in(browser, sim, world.phones[0])
    page = await browser.get(PLATES)
    assert "正在接受申请" in page.text
    apply_url = f"{PLATES}/plates-1/apply"
    first = await browser.post(apply_url, data=page.form(apply_url).fields)
    assert first.response.headers["location"] == f"/verify?next={PLATES}&city=webtown"
    await verify(browser, person, PLATES)
    await browser.post(apply_url, data=page.form(apply_url).fields)
    applied = await browser.get(PLATES)
    assert "已申请" in applied.text
    await browser.post(apply_url, data=page.form(apply_url).fields, expect=409)

    withdraw_url = f"{PLATES}/plates-1/withdraw"
    await browser.post(withdraw_url, data=applied.form(withdraw_url).fields)
    assert "已撤回" in (await browser.get(PLATES)).text
    await browser.post(apply_url, data=page.form(apply_url).fields)

    await end_window(db, "plates-1", hub_clock)
    closed = await browser.get(PLATES)
    assert "申请已截止" in closed.text and not [f for f in closed.forms if "apply" in f.action]
    await staff.post(f"{rounds}/plates-1/close", json={}, expect=200)
    await staff.post(
        f"{rounds}/plates-1/draw", json={"secret": SECRET, "public_value": "3412.56"}, expect=200
    )
    await staff.post(f"{rounds}/plates-1/publish", json={}, expect=200)

    result = await browser.get(PLATES)
    assert "您已中签（第 1 位）" in result.text
    files = [f"{rounds}/plates-1/files/{n}" for n in ("applicants.json", "results.json")]
    assert all(f in result.response.text for f in files)
    published = await browser.client.get(files[1])
    assert published.status_code == 200 and published.json()["winners"]
