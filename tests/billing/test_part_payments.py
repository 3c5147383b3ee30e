"""Part and advance payments of one bill through several channels at once, against simulated
billers that take them where their terms say so and keep the balance themselves (over real
HTTP): what is paid never goes above what the bill may take, the refused are told why, and
the bill goes unpaid -> partially_paid -> paid. Expired and cancelled bills are not payable.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select

from cityhub.billing.models import Bill, Payment, PaymentStatus
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import PayWorld, UnpaidBill, ledger_ok, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim

PARTIAL = {"amount_rule": "partial", "min_fen": 1_000, "multiple_fen": 100}
ADVANCE = {"amount_rule": "advance", "min_fen": 1_000, "multiple_fen": 100, "max_fen": 500_000}


async def _terms(world: PayWorld, service: str, **terms: Any) -> None:
    staff = await world.staff()
    await staff.call("PUT", world.url(f"/services/{service}/biller-terms"), json=terms)
    await staff.client.aclose()


async def _three_channels(db: Database, api: Api, world: PayWorld) -> list[Api]:
    """The world's channel and two more (three tokens), each granted every biller."""
    channels = [world.channel]
    for _ in range(2):
        login = await create_channel(db)
        for service in world.services.values():
            await create_grant(db, channel=login.channel, service=service)
        channels.append(await api.as_channel(login.client_id, login.secret))
    return channels


async def _shown(world: PayWorld, bill: UnpaidBill, channel: Api | None = None) -> Any:
    """The bill as a channel's look-up shows it now."""
    found = await world.look_up(bill, channel)
    return next(b for b in found["bills"] if b["bill_id"] == bill.bill_id)


async def _at_once(
    world: PayWorld, bill: UnpaidBill, channels: list[Api], amounts: list[int]
) -> list[Any]:
    """Each amount quoted by the next channel, every request in flight together."""

    async def one(n: int, amount: int) -> Any:
        channel = channels[n % len(channels)]
        body = {"service": bill.service, "bill_id": bill.bill_id, "amount_fen": amount,
                "currency": "CNY", "user_id": f"u{n}"}  # fmt: skip
        headers = {**channel.headers, "Idempotency-Key": uuid.uuid4().hex}
        return await channel.client.post(world.url("/payments"), json=body, headers=headers)

    return list(await asyncio.gather(*(one(n, a) for n, a in enumerate(amounts))))


async def _confirm_at_once(world: PayWorld, channels: list[Api], quoted: list[Any]) -> None:
    """Each channel confirms its own quotes, all at once."""

    async def one(answer: Any) -> None:
        payment = answer.json()
        body = {"channel_txn_id": f"wx-{payment['id'][-12:]}", "amount_fen": payment["total_fen"],
                "currency": "CNY"}  # fmt: skip
        owner = _owner(channels, answer)  # the channel that quoted it
        url = world.url(f"/payments/{payment['id']}/confirmation")
        confirmed = await owner.client.post(url, json=body, headers=owner.headers)
        assert confirmed.status_code == 200, confirmed.text

    await asyncio.gather(*(one(a) for a in quoted))


def _owner(channels: list[Api], answer: Any) -> Api:
    token = answer.request.headers["authorization"]
    return next(c for c in channels if c.headers.get("Authorization") == token)


async def _paid_and_reserved(db: Database, bill: UnpaidBill) -> tuple[int, int, int]:
    """The hub's record of the bill: paid, reserved, and what its completed payments add up to."""
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Bill).where(Bill.bill_ref == bill.bill_id))
        assert row is not None
        payments = (await session.scalars(select(Payment).where(Payment.bill_id == row.id))).all()
    done = sum(
        p.amount_fen - p.refunded_fen for p in payments if p.status == PaymentStatus.COMPLETED
    )
    return row.paid_fen, row.reserved_fen, done


def _biller_says(sim: Sim, kind: str, bill: UnpaidBill) -> dict[str, Any]:
    answer = sim.control.get(f"/{kind}/sh-{kind}/accounts/{bill.account}/bills")
    answer.raise_for_status()
    found: dict[str, Any] = next(b for b in answer.json()["bills"] if b["id"] == bill.bill_id)
    return found


def _a_bill_with_odd_parts(world: PayWorld) -> tuple[UnpaidBill, int]:
    """An unpaid power bill and a share of it: four shares fit, a fifth does not."""
    bill = world.unpaid("power")[0]
    share = (bill.amount_fen - 1) // 4 // 100 * 100
    assert share >= 1_000 and 4 * share < bill.amount_fen < 5 * share
    return bill, share


async def test_three_channels_paying_parts_of_one_bill_never_pay_more_than_it_owes(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "power", **PARTIAL)
    bill, share = _a_bill_with_odd_parts(world)
    channels = await _three_channels(db, api, world)
    for channel in channels:
        shown = await _shown(world, bill, channel)
    assert (shown["status"], shown["paid_fen"], shown["remaining_fen"]) == (
        "unpaid", 0, bill.amount_fen
    )  # fmt: skip

    # Nine parts from three channels at once: the four that fit are quoted, five refused.
    answers = await _at_once(world, bill, channels, [share] * 9)
    assert Counter(a.status_code for a in answers) == {201: 4, 409: 5}, answers[0].text
    left = bill.amount_fen - 4 * share
    refused = {(a.json()["code"], a.json()["left_fen"]) for a in answers if a.status_code == 409}
    assert refused == {("bill_amount_exceeded", left)}
    quoted = [a for a in answers if a.status_code == 201]
    await _confirm_at_once(world, channels, quoted)
    await drain(db, settings)  # the biller takes each part: its terms take parts
    assert await _paid_and_reserved(db, bill) == (4 * share, 0, 4 * share)
    shown = await _shown(world, bill, channels[2])
    assert (shown["status"], shown["paid_fen"], shown["remaining_fen"]) == (
        "partially_paid", 4 * share, left
    )  # fmt: skip
    said = _biller_says(sim, "power", bill)
    assert (said["status"], said["paid_fen"]) == ("partially_paid", 4 * share)

    # What is left, by all three at once (odd fen and below the minimum: the whole rest may
    # always be paid): one pays it, the other two are told nothing is left.
    answers = await _at_once(world, bill, channels, [left] * 3)
    assert Counter(a.status_code for a in answers) == {201: 1, 409: 2}
    assert {a.json()["left_fen"] for a in answers if a.status_code == 409} == {0}
    await _confirm_at_once(world, channels, [a for a in answers if a.status_code == 201])
    await drain(db, settings)
    assert await _paid_and_reserved(db, bill) == (bill.amount_fen, 0, bill.amount_fen)
    shown = await _shown(world, bill)
    assert (shown["status"], shown["paid_fen"], shown["remaining_fen"]) == (
        "paid", bill.amount_fen, 0
    )  # fmt: skip
    assert _biller_says(sim, "power", bill)["paid_fen"] == bill.amount_fen
    again = await world.quote(bill, amount_fen=1_000, expect=409, channel=channels[1])
    assert again["code"] == "bill_already_paid"
    await ledger_ok(db)


async def test_a_part_the_billers_terms_refuse_is_refused_before_anyone_is_charged(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "power", **PARTIAL)
    bill, _share = _a_bill_with_odd_parts(world)
    await world.look_up(bill)
    below = await world.quote(bill, amount_fen=900, expect=422)
    odd = await world.quote(bill, amount_fen=1_050, expect=422)
    above = await world.quote(bill, amount_fen=bill.amount_fen + 100, expect=422)
    assert [p["code"] for p in (below, odd, above)] == [
        "amount_below_minimum", "amount_not_multiple", "amount_above_bill"
    ]  # fmt: skip
    assert (await _shown(world, bill))["remaining_fen"] == bill.amount_fen


async def test_advance_payments_go_above_the_bill_up_to_the_billers_maximum(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "gas", **ADVANCE)
    bill = world.unpaid("gas")[0]
    channels = await _three_channels(db, api, world)
    await world.pay(bill)
    await drain(db, settings)
    assert (await _shown(world, bill))["status"] == "paid"
    # Paid, and still taking advances: three channels at once, 200 yuan each, until the max.
    room = 500_000 - bill.amount_fen
    answers = await _at_once(world, bill, channels, [20_000] * (room // 20_000 + 3))
    assert Counter(a.status_code for a in answers) == {201: room // 20_000, 409: 3}
    quoted = [a for a in answers if a.status_code == 201]
    await _confirm_at_once(world, channels, quoted)
    await drain(db, settings)
    total = bill.amount_fen + 20_000 * len(quoted)
    assert await _paid_and_reserved(db, bill) == (total, 0, total)
    assert _biller_says(sim, "gas", bill)["paid_fen"] == total <= 500_000
    shown = await _shown(world, bill)
    assert (shown["status"], shown["paid_fen"], shown["remaining_fen"]) == ("paid", total, 0)
    await ledger_ok(db)


async def test_expired_and_cancelled_bills_are_not_payable(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "power", **PARTIAL)
    withdrawn, closed, late, quoted_first = world.unpaid("power", 4)
    yesterday = (dt.datetime.now(CHINA).date() - dt.timedelta(days=1)).isoformat()
    # The first is part-paid through the hub before anything changes.
    await world.look_up(quoted_first)
    waiting = await world.quote(quoted_first, amount_fen=1_000)
    changes = {
        withdrawn.bill_id: {"status": "cancelled"},
        closed.bill_id: {"status": "expired"},
        late.bill_id: {"payable_until": yesterday},
        quoted_first.bill_id: {"status": "cancelled"},
    }
    for bill_id, change in changes.items():
        url = f"/_control/billers/power/sh-power/bills/{bill_id}"
        sim.control.put(url, json=change).raise_for_status()
    for bill, status, code in (
        (withdrawn, "cancelled", "bill_cancelled"),
        (closed, "expired", "bill_expired"),
        (late, "expired", "bill_expired"),
    ):
        shown = await _shown(world, bill)
        assert (shown["status"], shown["remaining_fen"]) == (status, bill.amount_fen)
        problem = await world.quote(bill, amount_fen=bill.amount_fen, expect=409)
        assert (problem["code"], problem["field"]) == (code, "bill_id"), problem
    assert (await _shown(world, late))["payable_until"] == yesterday

    # A quote made before the biller withdrew the bill: confirmed, the biller refuses it, the
    # channel is told to refund, and what the quote held goes back.
    await world.confirm(waiting)
    await drain(db, settings)
    failed = await world.get(waiting["id"])
    assert (failed["status"], failed["failure_code"]) == ("failed", "bill_cancelled")
    assert await _paid_and_reserved(db, quoted_first) == (0, 0, 0)
    await ledger_ok(db)


async def test_a_refund_lowers_what_was_paid_and_the_rest_may_be_paid_again(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "power", **PARTIAL)
    bill, share = _a_bill_with_odd_parts(world)
    await world.look_up(bill)
    first = await world.confirm(await world.quote(bill, amount_fen=share))
    second = await world.confirm(await world.quote(bill, amount_fen=share))
    await drain(db, settings)
    assert (await _shown(world, bill))["paid_fen"] == 2 * share
    staff = await world.staff()
    body = {"amount_fen": share, "currency": "CNY", "reason": "paid twice"}
    await staff.post(world.url(f"/payments/{second['id']}/refunds"), json=body)
    await drain(db, settings)  # the full refund is told to the biller: it reverses its part
    assert await _paid_and_reserved(db, bill) == (share, 0, share)
    assert _biller_says(sim, "power", bill)["paid_fen"] == share
    shown = await _shown(world, bill)
    assert (shown["status"], shown["remaining_fen"]) == ("partially_paid", bill.amount_fen - share)
    rest = await world.quote(bill, amount_fen=bill.amount_fen - share)
    assert rest["amount_fen"] == bill.amount_fen - share
    assert first["status"] == "confirmed"
    await ledger_ok(db)
