"""Concurrent clients against one database: one payment confirmed by 200 at once posts once;
many payments of different bills at once all complete."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.billing import ledger
from cityhub.billing.bills import keep
from cityhub.billing.models import LedgerAccount, Payment, PaymentStatus, Posting
from cityhub.billing.service import PAY_BILLER
from cityhub.connectors import types
from cityhub.outbox import Dispatcher, OutboxEvent, load_handlers
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import (
    BILLERS,
    PayWorld,
    UnpaidBill,
    balances,
    ledger_ok,
    pay_world,
)
from tests.client import Api
from tests.simulators.fixtures import Sim

# 1,000 concurrent payments on PostgreSQL, where they really run side by side; 200 on SQLite,
# which serialises every writer (the same race, sized so the suite stays in minutes: a thousand
# there only queue longer). CITYHUB_TEST_PAYMENTS overrides both.
PAYMENTS = {"postgres": 1000, "sqlite": 200}


@pytest.mark.slow
async def test_200_concurrent_confirmations_of_one_payment_post_it_exactly_once(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    await world.look_up(bill)
    payment = await world.quote(bill)
    body = {"amount_fen": payment["total_fen"], "currency": "CNY"}
    url = world.url(f"/payments/{payment['id']}/confirmation")
    answers = await asyncio.gather(
        *[
            world.channel.client.post(
                url, json={**body, "channel_txn_id": f"t-{n}"}, headers=world.channel.headers
            )
            for n in range(200)
        ]
    )
    assert Counter(a.status_code for a in answers) == {200: 1, 409: 199}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"already_confirmed"}
    winner = next(a.json() for a in answers if a.status_code == 200)
    async with db.unit_of_work() as session:
        postings = await session.scalar(select(func.count()).select_from(Posting))
        pay_events = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.topic == PAY_BILLER)
        )
        row = await session.scalar(select(Payment))
    assert (postings, pay_events) == (1, 1)
    assert row is not None and row.channel_txn_id == winner["channel_txn_id"]
    await ledger_ok(db)


def _bills(world: PayWorld, sim: Sim, count: int) -> list[UnpaidBill]:
    """`count` unpaid bills across as many simulated billers as it takes."""
    found: list[UnpaidBill] = []
    for service in world.services:
        for _ in range(100):
            try:
                found += world.unpaid(service, 1)
            except AssertionError:
                break
            if len(found) == count:
                return found
    return found


async def _more_billers(db: Database, world: PayWorld, copies: int) -> None:
    from tests.cities.factories import create_grant
    from tests.connectors.factories import connected_service

    for n in range(copies):
        for kind in BILLERS:
            code = f"{kind}-{n}"
            world.services[code] = await connected_service(
                db,
                city=world.city,
                code=code,
                connector=f"simulator:{kind}",
                config={"provider_id": f"{kind}-co-{n}"},
            )
            await create_grant(db, channel=world.login.channel, service=world.services[code])


@pytest.mark.slow
async def test_many_concurrent_payments_of_different_bills_all_complete(
    api: Api, db: Database, sim: Sim, settings: Settings, db_kind: str
) -> None:
    count = int(os.environ.get("CITYHUB_TEST_PAYMENTS") or PAYMENTS[db_kind])
    world = await pay_world(db, api, sim)
    await _more_billers(db, world, 6)
    bills = _bills(world, sim, count)
    assert len(bills) == count
    await _shown(db, world, bills)
    started = time.monotonic()
    # Every payment is open at once; the channel talks to the hub over 100 connections.
    gate = asyncio.Semaphore(100)

    async def pay(bill: UnpaidBill) -> str:
        async with gate:
            payment = await world.quote(bill)
        async with gate:
            await world.confirm(payment)
        return str(payment["id"])

    ids = await asyncio.gather(*[pay(b) for b in bills])
    paid_at = time.monotonic()
    dispatchers = [Dispatcher(db, settings, registry=load_handlers()) for _ in range(4)]
    try:
        await asyncio.gather(*[d.drain() for d in dispatchers])
    finally:
        for d in dispatchers:
            await d.close()
    async with db.unit_of_work() as session:
        rows = await session.execute(select(Payment.status, func.count()).group_by(Payment.status))
        statuses = {status: int(n) for status, n in rows.all()}
    done = time.monotonic()
    assert statuses == {PaymentStatus.COMPLETED: count}, statuses
    assert len(set(ids)) == count
    await ledger_ok(db)
    print(
        f"\n{count} payments on {db_kind}: create+confirm {paid_at - started:.1f} s,"
        f" biller calls {done - paid_at:.1f} s"
    )


async def _shown(db: Database, world: PayWorld, bills: list[UnpaidBill]) -> None:
    """The hub keeps the bills as if each account had been looked up (the look-up itself is
    tested elsewhere; here it would only slow the test down)."""
    today = dt.datetime.now(CHINA).date()
    accounts = {(b.service, b.account) for b in bills}
    async with db.unit_of_work() as session:
        for service_code, account in accounts:
            service = world.services[service_code]
            kind = service.connector.split(":")[1]
            provider = service.connector_config["provider_id"]
            shown = [
                types.Bill(account=account, bill_id=row["id"], **_fields(row))
                for row in world.sim.world.bills(kind, provider, account, today)
            ]
            await keep(session=session, city_id=world.city.id, service_id=service.id, bills=shown)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("period", "amount_fen", "currency", "due_date", "status")}


async def test_concurrent_roll_ups_count_every_entry_once(api: Api, db: Database, sim: Sim) -> None:
    world = await pay_world(db, api, sim)
    for bill in world.unpaid("water", 6):
        await world.pay(bill)
    before = await balances(db, world.city)
    assert before and all(fen != 0 for fen in before.values())

    async def roll_up() -> int:
        async with db.unit_of_work() as session:
            return await ledger.roll_up(session=session, city_id=world.city.id)

    taken = await asyncio.gather(*(roll_up() for _ in range(4)))
    assert sum(taken) == 12  # six postings of two entries, each taken by one roll-up
    assert await balances(db, world.city) == before
    async with db.unit_of_work() as session:
        stored = {a.code: a.balance_fen for a in await session.scalars(select(LedgerAccount))}
    assert stored == before  # all of it is in the stored balances now
    await ledger_ok(db)
