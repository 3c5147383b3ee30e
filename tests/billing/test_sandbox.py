"""The sandbox: test credentials whose payments reach only the sandbox's simulator (a second
simulator server here, so that the live one can be asked what it received), kept apart from
live payments, figures, settlement and reconciliation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cityhub.billing import ledger, search
from cityhub.figures import service as figures
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer, World, serve_in_background
from cityhub.simulators.world import CHINA
from tests.billing.factories import PayWorld, UnpaidBill, balances, ledger_ok, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.outbox_helpers import drain
from tests.simulators.fixtures import SEED, Sim


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningServer]:
    """The sandbox's simulators: a server of their own, the same world as the live one."""
    running = serve_in_background(port=0, seed=SEED)
    yield running
    running.stop()


@pytest.fixture
def sandbox_sim(sandbox_server: RunningServer) -> Iterator[Sim]:
    with httpx.Client(base_url=sandbox_server.url, timeout=10, trust_env=False) as control:
        control.post("/_control/reset").raise_for_status()
        yield Sim(url=sandbox_server.url, world=World(SEED), control=control)


@pytest.fixture
def settings(settings: Settings, sandbox_server: RunningServer) -> Settings:
    settings.sandbox_url = sandbox_server.url
    return settings


async def _test_channel(world: PayWorld) -> tuple[Api, dict[str, Any]]:
    made = await world.channel.post("/v1/channel/test-credentials")
    return await world.api.as_channel(made["client_id"], made["client_secret"]), made


def _sandbox_bill(bill: UnpaidBill) -> UnpaidBill:
    return dataclasses.replace(bill, bill_id=f"sbx-{bill.bill_id}")


async def _pay_in_sandbox(world: PayWorld, test: Api, bill: UnpaidBill) -> Any:
    shown = await world.look_up(bill, channel=test)
    assert {b["bill_id"] for b in shown["bills"]} >= {f"sbx-{bill.bill_id}"}
    quoted = await world.quote(_sandbox_bill(bill), channel=test)
    assert quoted["mode"] == "test"
    body = {"channel_txn_id": "sbx-txn-1", "amount_fen": quoted["total_fen"], "currency": "CNY"}
    await test.post(world.url(f"/payments/{quoted['id']}/confirmation"), json=body, expect=200)
    return quoted


async def test_test_credentials_carry_the_mode_in_the_token_and_every_answer(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    made = await world.channel.post("/v1/channel/test-credentials")
    assert made["client_id"] == f"test_{world.login.channel.slug}" and made["mode"] == "test"
    assert world.channel.last is not None
    assert world.channel.last.headers["CityHub-Mode"] == "live"
    token = await api.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
        expect=200,
    )
    assert token["mode"] == "test"
    test = await api.as_channel(made["client_id"], made["client_secret"])
    services = await test.get(world.url("/services"))  # the live channel's grants
    assert {s["code"] for s in services["items"]} == {"water", "power", "gas"}
    assert test.last is not None and test.last.headers["CityHub-Mode"] == "test"
    problem = await test.get(world.url("/payments/pay_nothing"), expect=404)
    assert problem["code"] and test.last.headers["CityHub-Mode"] == "test"  # problems too
    again = await world.channel.post("/v1/channel/test-credentials", expect=409)
    assert again["code"] == "sandbox_exists"
    refused = await test.post("/v1/channel/test-credentials", expect=403)
    assert refused["code"] == "test_credentials"


async def test_a_sandbox_payment_reaches_only_the_sandbox_simulator(
    api: Api, db: Database, sim: Sim, sandbox_sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    test, _ = await _test_channel(world)
    bill = world.unpaid("water")[0]
    quoted = await _pay_in_sandbox(world, test, bill)
    await drain(db, settings)
    done = await test.get(world.url(f"/payments/{quoted['id']}"))
    assert done["status"] == "completed" and done["provider_ref"].startswith("WAT-")
    assert sandbox_sim.requests("water/sh-water") >= 2  # the look-up and the payment
    assert sim.requests("water/sh-water") == 0  # the live biller heard nothing
    # The live bill is untouched: the live channel still sees it unpaid and can pay it.
    shown = await world.look_up(bill)
    live_bill = next(b for b in shown["bills"] if b["bill_id"] == bill.bill_id)
    assert live_bill["status"] == "unpaid"
    await world.quote(bill)


async def test_live_and_test_tokens_never_see_each_others_payments(
    api: Api, db: Database, sim: Sim, sandbox_sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    test, _ = await _test_channel(world)
    sandbox_bill, live_bill = world.unpaid("power", 2)
    test_payment = await _pay_in_sandbox(world, test, sandbox_bill)
    live_payment = await world.pay(live_bill)
    await drain(db, settings)
    await world.channel.get(world.url(f"/payments/{test_payment['id']}"), expect=404)
    await test.get(world.url(f"/payments/{live_payment['id']}"), expect=404)
    live_list = await world.channel.get(world.url("/payments"))
    assert [p["id"] for p in live_list["items"]] == [live_payment["id"]]
    test_list = await test.get(world.url("/payments"))
    assert [p["id"] for p in test_list["items"]] == [test_payment["id"]]
    # Neither may quote the other's bills.
    await world.look_up(live_bill, channel=test)
    problem = await world.quote(live_bill, channel=test, expect=404)
    assert problem["code"] == "bill_not_found"
    problem = await world.quote(_sandbox_bill(sandbox_bill), expect=404)
    assert problem["code"] == "bill_not_found"


async def test_a_sandbox_payment_is_in_no_figure_settlement_or_live_account(
    api: Api, db: Database, sim: Sim, sandbox_sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    test, made = await _test_channel(world)
    sandbox_bill, live_bill = world.unpaid("gas", 2)
    await _pay_in_sandbox(world, test, sandbox_bill)
    live_payment = await world.pay(live_bill)
    await drain(db, settings)
    gas = world.services["gas"].id
    kept = await balances(db, world.city)
    assert kept[ledger.biller_payable(gas)] == -live_bill.amount_fen  # the live one alone
    assert kept[f"sandbox:{ledger.biller_payable(gas)}"] == -sandbox_bill.amount_fen
    await ledger_ok(db)
    async with db.unit_of_work() as session:
        facts = figures.facts(world.city.id)
        counted = await session.scalar(
            select(func.count()).select_from(facts).where(facts.c.pillar == "payments")
        )
        day = await search.figures(
            session=session,
            city_id=world.city.id,
            start=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
            end=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
    assert counted == 1  # the city's usage figures
    assert (day.count, day.amount_fen) == (1, live_bill.amount_fen)  # the console's dashboard
    admin = await world.staff()
    today = dt.datetime.now(CHINA).date().isoformat()
    batches = (await admin.post(world.url("/settlements"), json={"day": today}))["items"]
    parties = {(b["party"], b["party_name"]): b["net_fen"] for b in batches}
    assert parties == {
        ("biller", "gas"): live_bill.amount_fen,
        ("channel", world.login.channel.slug): -live_payment["total_fen"],
    }
    assert made["slug"] not in {name for _, name in parties}
    listed = await admin.get(world.url("/payments"))
    modes = {p["id"]: p["mode"] for p in listed["items"]}
    assert modes[live_payment["id"]] == "live" and sorted(modes.values()) == ["live", "test"]


async def test_a_service_without_a_sandbox_refuses_test_traffic(
    api: Api, db: Database, sim: Sim, sandbox_sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    real = await connected_service(
        db,
        city=world.city,
        code="phone",
        connector="http",
        config={"definition": "telecom"},
        provider="telecom company",
    )
    await create_grant(db, channel=world.login.channel, service=real)
    test, _ = await _test_channel(world)
    problem = await test.get(
        world.url("/services/phone/bills"), params={"account": "1234567890"}, expect=409
    )
    assert problem["code"] == "sandbox_unavailable"
    assert sim.requests("water/sh-water") == 0


async def test_a_real_connector_names_the_simulator_that_stands_in_for_it(
    api: Api, db: Database, sim: Sim, sandbox_sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    real = await connected_service(
        db,
        city=world.city,
        code="tap-water",
        connector="http",
        config={
            "definition": "city-water",  # the live one (not even set up here)
            "sandbox": {"kind": "water", "provider_id": "sh-water"},
        },
        provider="water company",
    )
    await create_grant(db, channel=world.login.channel, service=real)
    test, _ = await _test_channel(world)
    url = world.url("/services/tap-water/bills")
    shown = await test.get(url, params={"account": bill.account})
    assert f"sbx-{bill.bill_id}" in {b["bill_id"] for b in shown["bills"]}
    assert sandbox_sim.requests("water/sh-water") == 1
    problem = await world.channel.get(url, params={"account": bill.account}, expect=503)
    assert problem["code"] == "connector_misconfigured"  # live goes to the live connector
    assert sim.requests("water/sh-water") == 0
    admin = await world.staff()
    bad = await admin.patch(
        world.url("/services/tap-water"),
        json={"connector_config": {"definition": "city-water", "sandbox": {"kind": "water"}}},
        expect=422,
    )
    assert bad["field"] == "connector_config.sandbox"


async def test_test_credentials_may_not_write_where_the_sandbox_cannot_keep_it_apart(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    test, _ = await _test_channel(world)
    problem = await test.post(
        world.url("/requests"), json={"type": "pothole", "description": "x"}, expect=409
    )
    assert problem["code"] == "sandbox_unavailable"
    problem = await test.post(world.url("/complaints"), json={}, expect=409)
    assert problem["code"] == "sandbox_unavailable"
