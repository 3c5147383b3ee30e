"""The payment flow end to end: look up, quote, confirm, the biller's answer, the webhooks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cityhub.billing import ledger
from cityhub.billing.models import Bill
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import balances, events, ledger_ok, pay_world
from tests.client import Api
from tests.outbox_helpers import Receiver, drain, make_due
from tests.simulators.fixtures import Sim


async def test_a_look_up_shows_the_bills_and_the_hub_keeps_them(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    shown = await world.look_up(bill)
    assert shown["service"] == "water" and shown["amount_rule"] == "exact"
    found = {b["bill_id"]: b for b in shown["bills"]}
    assert found[bill.bill_id]["amount_fen"] == bill.amount_fen
    assert found[bill.bill_id]["min_fen"] == found[bill.bill_id]["max_fen"] == bill.amount_fen
    async with db.unit_of_work() as session:
        kept = (await session.scalars(select(Bill).where(Bill.account == bill.account))).all()
    assert {b.bill_ref for b in kept} == set(found)


async def test_a_bad_account_number_is_refused_before_the_biller_is_asked(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    problem = await world.channel.get(
        world.url("/services/water/bills"), params={"account": "12 34;"}, expect=422
    )
    assert (problem["code"], problem["field"]) == ("invalid_account", "account")
    assert sim.requests("water/sh-water") == 0
    problem = await world.channel.get(
        world.url("/services/water/bills"), params={"account": "0000000000"}, expect=404
    )
    assert (problem["code"], problem["field"]) == ("account_not_found", "account")


async def test_a_confirmed_payment_is_paid_to_the_biller_and_the_channel_told(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    bill = world.unpaid("power")[0]
    await world.look_up(bill)
    quoted = await world.quote(bill)
    assert quoted["status"] == "quoted" and quoted["total_fen"] == bill.amount_fen
    assert quoted["currency"] == "CNY" and quoted["quote_expires_at"]
    confirmed = await world.confirm(quoted, txn="wx-0001")
    assert confirmed["status"] == "confirmed" and confirmed["channel_txn_id"] == "wx-0001"
    service_id = world.services["power"].id
    assert await balances(db, world.city) == {
        ledger.channel_receivable(world.login.channel.id): bill.amount_fen,
        ledger.biller_pending(service_id): -bill.amount_fen,
    }

    await drain(db, settings)
    done = await world.get(quoted["id"])
    assert done["status"] == "completed" and done["provider_ref"].startswith("POW-")
    assert await balances(db, world.city) == {
        ledger.channel_receivable(world.login.channel.id): bill.amount_fen,
        ledger.biller_pending(service_id): 0,
        ledger.biller_payable(service_id): -bill.amount_fen,
    }
    await ledger_ok(db)
    [hook] = events(receiver.deliveries, "payment.completed")
    assert hook["data"]["payment"]["id"] == quoted["id"] and hook["id"]
    assert all(d.signed for d in receiver.deliveries)
    again = await world.look_up(bill)
    assert {b["bill_id"]: b["status"] for b in again["bills"]}[bill.bill_id] == "paid"


async def test_a_biller_refusal_fails_the_payment_reverses_the_ledger_and_asks_for_a_refund(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    bill = world.unpaid("power")[0]
    await world.look_up(bill)
    payment = await world.confirm(await world.quote(bill))
    # Someone pays the bill at the power company's counter before the hub gets there.
    paid = sim.control.post(
        "/power/sh-power/payments",
        json={
            "payment_id": "counter-1",
            "account": bill.account,
            "bill_id": bill.bill_id,
            "amount_fen": bill.amount_fen,
        },
    )
    assert paid.status_code == 200, paid.text
    await drain(db, settings)
    failed = await world.get(payment["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "bill_already_paid")
    channel_account = ledger.channel_receivable(world.login.channel.id)
    assert (await balances(db, world.city))[channel_account] == 0
    await ledger_ok(db)
    [hook] = events(receiver.deliveries, "payment.failed")
    assert hook["data"]["refund_required"] is True
    assert hook["data"]["refund_fen"] == payment["total_fen"]
    assert receiver.deliveries[0].headers["CityHub-Event-Id"] == hook["id"]


async def test_a_biller_that_does_not_answer_is_asked_again_until_it_does(
    api: Api, db: Database, sim: Sim, settings: Settings, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    await world.look_up(bill)
    payment = await world.confirm(await world.quote(bill))
    sim.set("water/sh-water", down=True)
    for _ in range(3):
        await drain(db, settings)
        await make_due(db, hub_clock)
    assert (await world.get(payment["id"]))["status"] == "confirmed"
    sim.set("water/sh-water", down=False)
    await make_due(db, hub_clock)
    await drain(db, settings)
    assert (await world.get(payment["id"]))["status"] == "completed"
    statement = sim.control.get("/water/sh-water/statements/" + _today()).json()
    assert [ln["payment_id"] for ln in statement["lines"]] == [payment["id"]]
    await ledger_ok(db)


def _today() -> str:
    return dt.datetime.now(CHINA).date().isoformat()
