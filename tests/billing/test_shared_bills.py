"""Partial and advance terms: the payments of one bill never add up to more than it may take,
however many channels pay it at once (real concurrent requests, on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select, update

from cityhub.billing.models import Bill, Payment, PaymentStatus
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from tests.billing.factories import PayWorld, UnpaidBill, ledger_ok, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim


async def _terms(world: PayWorld, service: str, **terms: Any) -> None:
    staff = await world.staff()
    url = world.url(f"/services/{service}/biller-terms")
    await staff.call("PUT", url, json=terms, expect=200)
    await staff.client.aclose()


async def _channels(db: Database, api: Api, world: PayWorld, count: int) -> list[Api]:
    """The world's channel and `count - 1` more, each granted every biller."""
    channels = [world.channel]
    for _ in range(count - 1):
        login = await create_channel(db)
        for service in world.services.values():
            await create_grant(db, channel=login.channel, service=service)
        channels.append(await api.as_channel(login.client_id, login.secret))
    return channels


async def _quote_at_once(
    world: PayWorld, bill: UnpaidBill, channels: list[Api], amounts: list[int]
) -> list[Any]:
    """Each amount quoted by the next channel, all requests in flight together."""
    for channel in channels:
        await world.look_up(bill, channel)

    async def one(n: int, amount: int) -> Any:
        channel = channels[n % len(channels)]
        body = {"service": bill.service, "bill_id": bill.bill_id, "amount_fen": amount,
                "currency": "CNY", "user_id": f"u{n}"}  # fmt: skip
        headers = {**channel.headers, "Idempotency-Key": uuid.uuid4().hex}
        return await channel.client.post(world.url("/payments"), json=body, headers=headers)

    return list(await asyncio.gather(*(one(n, a) for n, a in enumerate(amounts))))


async def _standing(db: Database, bill: UnpaidBill) -> tuple[int, int]:
    """What the bill holds (paid and reserved), and the sum of its payments not expired nor
    failed."""
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Bill).where(Bill.bill_ref == bill.bill_id))
        assert row is not None
        payments = (await session.scalars(select(Payment).where(Payment.bill_id == row.id))).all()
    live = (PaymentStatus.QUOTED, PaymentStatus.CONFIRMED, PaymentStatus.COMPLETED)
    held = sum(p.amount_fen - p.refunded_fen for p in payments if p.status in live)
    return row.paid_fen + row.reserved_fen, held


async def test_three_channels_paying_a_partial_bill_in_full_at_once_get_one_quote(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "water", amount_rule="partial", min_fen=1)
    bill = world.unpaid("water")[0]
    channels = await _channels(db, api, world, 3)
    answers = await _quote_at_once(world, bill, channels, [bill.amount_fen] * 3)
    assert Counter(a.status_code for a in answers) == {201: 1, 409: 2}, answers[0].text
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {(p["code"], p["field"], p["left_fen"]) for p in refused} == {
        ("bill_amount_exceeded", "amount_fen", 0)
    }
    assert await _standing(db, bill) == (bill.amount_fen, bill.amount_fen)

    # Shares of it: exactly as many as fit, out of twenty at once from three channels.
    other = world.unpaid("water")[0]
    share = other.amount_fen // 5
    answers = await _quote_at_once(world, other, channels, [share] * 20)
    assert Counter(a.status_code for a in answers) == {201: 5, 409: 15}
    assert await _standing(db, other) == (5 * share, 5 * share)
    left = other.amount_fen - 5 * share
    assert {a.json()["left_fen"] for a in answers if a.status_code == 409} <= {left}

    # What a refused payment, an expired quote and a refund held goes back to the bill.
    quoted = [a.json() for a in answers if a.status_code == 201]
    by = next(channels[n % 3] for n, a in enumerate(answers) if a.status_code == 201)
    body = {"channel_txn_id": "wx-shared-1", "amount_fen": quoted[0]["total_fen"],
            "currency": "CNY"}  # fmt: skip
    await by.post(world.url(f"/payments/{quoted[0]['id']}/confirmation"), json=body, expect=200)
    await drain(db, settings)  # the simulated biller takes exact amounts only: it fails
    failed = await by.get(world.url(f"/payments/{quoted[0]['id']}"))
    assert failed["status"] == "failed"
    assert await _standing(db, other) == (4 * share, 4 * share)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Payment)
            .where(Payment.public_id == quoted[1]["id"])
            .values(quote_expires_at=utcnow())
        )
    again = await _quote_at_once(world, other, channels[:1], [2 * share + left])
    assert [a.status_code for a in again] == [201], again[0].text
    assert await _standing(db, other) == (other.amount_fen, other.amount_fen)
    await ledger_ok(db)


async def test_advance_payments_of_one_bill_stop_at_the_billers_maximum(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "power", amount_rule="advance", min_fen=1, max_fen=200_000)
    bill = world.unpaid("power")[0]
    channels = await _channels(db, api, world, 3)
    answers = await _quote_at_once(world, bill, channels, [80_000] * 6)
    assert Counter(a.status_code for a in answers) == {201: 2, 409: 4}
    assert await _standing(db, bill) == (160_000, 160_000)
    assert {a.json()["left_fen"] for a in answers if a.status_code == 409} == {40_000}
