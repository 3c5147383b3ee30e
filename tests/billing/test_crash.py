"""Crash safety: the hub is killed (SIGKILL) while payments wait for the biller's answer."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cityhub.billing.models import Payment, PaymentStatus
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import ledger_ok, pay_world
from tests.client import Api
from tests.outbox_helpers import Hub, eventually
from tests.simulators.fixtures import Sim

BILLER = "water/sh-water"


async def _statuses(db: Database) -> dict[str, int]:
    async with db.unit_of_work() as session:
        rows = await session.execute(select(Payment.status, func.count()).group_by(Payment.status))
        return {PaymentStatus(status).value: int(n) for status, n in rows.all()}


@pytest.mark.slow
async def test_a_hub_killed_before_the_biller_answers_pays_every_payment_exactly_once(
    api: Api, db: Database, sim: Sim, tmp_path: Path
) -> None:
    world = await pay_world(db, api, sim)
    bills = world.unpaid("water", 10)
    ids = [(await world.pay(bill))["id"] for bill in bills]
    assert await _statuses(db) == {"confirmed": len(ids)}
    before = sim.requests(BILLER)  # the look-ups
    sim.set(BILLER, latency_ms=1500)  # the biller thinks for a long time
    hub = Hub(
        db.url,
        tmp_path,
        CITYHUB_SIMULATOR_URL=sim.url,
        CITYHUB_CONNECTOR_ALLOW_HOSTS="127.0.0.1",
        CITYHUB_CONNECTOR_RETRIES="0",
        CITYHUB_OUTBOX_LEASE_SECONDS="2",
        CITYHUB_OUTBOX_POLL_SECONDS="0.05",
    )
    try:
        hub.start("serve")
        # The second payment is on its way to the biller: the first was answered, the second
        # is not yet. Kill the hub now.
        await eventually(
            lambda: sim.requests(BILLER) >= before + 2,
            timeout=30,
            what=lambda: f"the hub to pay the biller; it said:\n{hub.output()}",
            interval=0.01,
        )
        hub.kill()
        waiting = (await _statuses(db)).get("confirmed", 0)
        assert waiting > 0, "killed too late to prove anything"

        sim.set(BILLER, latency_ms=0)
        hub.start("serve")
        await eventually(
            lambda: _all_completed(db, len(ids)),
            timeout=30,
            what=lambda: f"every payment to complete; the hub said:\n{hub.output()}",
        )
    finally:
        hub.stop()
    today = dt.datetime.now(CHINA).date().isoformat()
    lines = sim.control.get(f"/water/sh-water/statements/{today}").json()["lines"]
    paid = Counter(ln["payment_id"] for ln in lines if ln["kind"] == "payment")
    assert paid == Counter(ids)  # each payment once at the biller, none missing
    assert len({ln["bill_id"] for ln in lines}) == len(ids)
    # ... although at least the one in flight at the kill was sent twice.
    assert sim.requests(BILLER) - before > len(ids)
    await ledger_ok(db)


async def _all_completed(db: Database, count: int) -> bool:
    return await _statuses(db) == {"completed": count}
