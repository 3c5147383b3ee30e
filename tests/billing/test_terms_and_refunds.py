"""Biller terms as data (amount rules, fees, hours) and refunds (staff, biller reversal)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from cityhub.billing import ledger
from cityhub.billing.models import Refund
from cityhub.identity.models import Role
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import PayWorld, balances, events, ledger_ok, pay_world
from tests.client import Api
from tests.helpers import at_local_time
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim


async def _terms(world: PayWorld, service: str, **terms: Any) -> Any:
    staff = await world.staff()
    try:
        return await staff.call(
            "PUT", world.url(f"/services/{service}/biller-terms"), json=terms, expect=200
        )
    finally:
        await staff.client.aclose()


async def test_terms_are_data_the_city_sets_and_channels_read(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    default = await world.channel.get(world.url("/services/water/biller-terms"))
    assert (default["stored"], default["amount_rule"]) == (False, "exact")
    saved = await _terms(
        world, "water", account_pattern=r"^\d{10}$", amount_rule="partial", min_fen=500
    )
    assert saved["stored"] and saved["min_fen"] == 500
    shown = await world.channel.get(world.url("/services/water/biller-terms"))
    assert shown["account_pattern"] == r"^\d{10}$"
    problem = await world.channel.get(
        world.url("/services/water/bills"), params={"account": "ABC"}, expect=422
    )
    assert problem["field"] == "account"
    staff = await world.staff()
    bad = {"amount_rule": "advance"}  # advance needs a maximum
    problem = await staff.call(
        "PUT", world.url("/services/water/biller-terms"), json=bad, expect=422
    )
    assert "max_fen" in problem["detail"]
    problem = await staff.call(
        "PUT", world.url("/services/water/biller-terms"), json={"account_pattern": "("}, expect=422
    )
    assert problem["field"] == "account_pattern"
    await staff.client.aclose()
    problem = await world.channel.call(
        "PUT", world.url("/services/water/biller-terms"), json={}, expect=401
    )


async def test_partial_and_advance_amounts_stay_within_their_bounds_and_fees_are_added(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "water", amount_rule="partial", min_fen=1000, fee_fixed_fen=100)
    bill = world.unpaid("water")[0]
    await world.look_up(bill)
    part = await world.quote(bill, amount_fen=1000)
    assert (part["amount_fen"], part["fee_fen"], part["total_fen"]) == (1000, 100, 1100)
    problem = await world.quote(bill, amount_fen=999, expect=422)
    assert problem["code"] == "amount_below_minimum"
    problem = await world.quote(bill, amount_fen=bill.amount_fen + 1, expect=422)
    assert problem["code"] == "amount_above_bill"

    await _terms(world, "power", amount_rule="advance", max_fen=100_000, fee_rate_bps=60)
    bill = world.unpaid("power")[0]
    await world.look_up(bill)
    ahead = await world.quote(bill, amount_fen=bill.amount_fen + 5_001)
    fee = -(-(bill.amount_fen + 5_001) * 60 // 10_000)  # 0.6 %, rounded up to a whole fen
    assert ahead["fee_fen"] == fee and ahead["total_fen"] == bill.amount_fen + 5_001 + fee
    problem = await world.quote(bill, amount_fen=100_001, expect=422)
    assert problem["code"] == "amount_above_maximum"


async def test_a_biller_closed_at_this_hour_refuses_new_payments(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    now = at_local_time(hub_clock, "Asia/Shanghai", 10)  # whatever the hour the test runs at
    start, end = (now + dt.timedelta(hours=1)).time(), (now + dt.timedelta(hours=2)).time()
    await _terms(
        world, "gas", accept_from=start.strftime("%H:%M"), accept_until=end.strftime("%H:%M")
    )
    bill = world.unpaid("gas")[0]
    await world.look_up(bill)
    problem = await world.quote(bill, expect=409)
    assert problem["code"] == "outside_accepted_hours"
    start, end = (now - dt.timedelta(hours=1)).time(), (now + dt.timedelta(hours=1)).time()
    await _terms(
        world, "gas", accept_from=start.strftime("%H:%M"), accept_until=end.strftime("%H:%M")
    )
    await world.quote(bill)


async def test_a_partial_payment_the_biller_will_not_take_fails_and_is_reversed(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "water", amount_rule="partial", min_fen=100)
    bill = world.unpaid("water")[0]
    await world.look_up(bill)
    payment = await world.confirm(await world.quote(bill, amount_fen=bill.amount_fen - 10))
    await drain(db, settings)
    failed = await world.get(payment["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "wrong_amount")
    assert set((await balances(db, world.city)).values()) == {0}
    await ledger_ok(db)


async def test_staff_refund_part_then_the_rest_with_the_fee_and_the_biller_is_told(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    await _terms(world, "water", fee_fixed_fen=150)
    bill = world.unpaid("water")[0]
    payment = await world.pay(bill)
    staff = await world.staff()
    url = world.url(f"/payments/{payment['id']}/refunds")
    problem = await staff.post(
        url, json={"amount_fen": 100, "currency": "CNY", "reason": "early"}, expect=409
    )
    assert problem["code"] == "payment_not_refundable"  # the biller has not answered yet
    await drain(db, settings)

    part = await staff.post(url, json={"amount_fen": 1000, "currency": "CNY", "reason": "x"})
    assert (part["total_fen"], part["fee_fen"], part["biller_status"]) == (1000, 0, "none")
    problem = await staff.post(
        url, json={"amount_fen": bill.amount_fen, "currency": "CNY", "reason": "x"}, expect=422
    )
    assert (problem["code"], problem["field"]) == ("refund_exceeds_payment", "amount_fen")
    rest = bill.amount_fen - 1000
    last = await staff.post(url, json={"amount_fen": rest, "currency": "CNY", "reason": "x"})
    assert (last["total_fen"], last["fee_fen"], last["biller_status"]) == (
        rest + 150,
        150,
        "pending",
    )
    refunded = await world.get(payment["id"])
    assert (refunded["status"], refunded["refunded_fen"]) == ("refunded", bill.amount_fen)
    assert set((await balances(db, world.city)).values()) == {0}
    await ledger_ok(db)

    await drain(db, settings)
    hooks = events(receiver.deliveries, "refund.succeeded")
    assert sorted(h["data"]["refund"]["total_fen"] for h in hooks) == sorted([1000, rest + 150])
    today = dt.datetime.now(CHINA).date().isoformat()
    lines = sim.control.get(f"/water/sh-water/statements/{today}").json()["lines"]
    assert [ln["kind"] for ln in lines] == ["payment", "reversal"]
    async with db.unit_of_work() as session:
        told = await session.scalar(select(Refund.biller_status).where(Refund.fee_fen == 150))
    assert told == "reversed"
    listed = (await world.channel.get(world.url(f"/payments/{payment['id']}/refunds")))["items"]
    assert [r["amount_fen"] for r in listed] == [1000, rest]
    await staff.client.aclose()


async def test_a_biller_reversal_refunds_what_is_left_without_calling_the_biller(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("power")[0]
    payment = await world.pay(bill)
    await drain(db, settings)
    provider = await world.staff(Role.PROVIDER_STAFF, provider="power")
    reversal = await provider.post(
        world.url(f"/payments/{payment['id']}/biller-reversal"), json={"reason": "meter error"}
    )
    assert (reversal["source"], reversal["total_fen"]) == ("biller_reversal", bill.amount_fen)
    assert reversal["biller_status"] == "none"
    problem = await provider.post(
        world.url(f"/payments/{payment['id']}/refunds"),
        json={"amount_fen": 1, "currency": "CNY", "reason": "x"},
        expect=403,
    )
    assert problem["code"] == "role_required"
    await drain(db, settings)
    service_id = world.services["power"].id
    assert (await balances(db, world.city))[ledger.biller_payable(service_id)] == 0
    await ledger_ok(db)
    await provider.client.aclose()
