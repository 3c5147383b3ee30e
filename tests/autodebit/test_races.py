"""A cancel races the debit, with real concurrent clients on both databases: whichever is
first, a cancelled agreement never debits again. Raced against the channel's confirmation
(the charge is posted only if it came first) and against the job asking the channels."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import select

from cityhub.autodebit.models import Agreement, AutoDebitAgreementStatus, AutoDebitStatus
from cityhub.billing.models import Payment, PaymentStatus
from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.autodebit.factories import agree, debit, debits, key, past_notice, requested, scan
from tests.billing.factories import PayWorld, UnpaidBill, ledger_ok
from tests.outbox_helpers import Receiver, drain

AGREEMENTS = 12


def _accounts(world: PayWorld, count: int) -> list[UnpaidBill]:
    """Unpaid bills of `count` different accounts (one agreement each)."""
    found: dict[tuple[str, str], UnpaidBill] = {}
    for service in ("water", "power", "gas"):
        while len(found) < count:
            try:
                [bill] = world.unpaid(service)
            except AssertionError:
                break
            found.setdefault((bill.service, bill.account), bill)
    assert len(found) == count
    return list(found.values())


async def _agreements(world: PayWorld, hub: ConnectorHub) -> list[dict[str, Any]]:
    made = [
        await agree(world, bill, user_id=f"u{n}")
        for n, bill in enumerate(_accounts(world, AGREEMENTS))
    ]
    assert await scan(world, hub) >= AGREEMENTS
    return made


async def _cancel(world: PayWorld, agreement_id: str, token: dict[str, str]) -> httpx.Response:
    return await world.channel.client.post(
        world.url(f"/auto-debit-agreements/{agreement_id}/cancel"), json={}, headers=token
    )


async def _confirm(world: PayWorld, ask: dict[str, Any], token: dict[str, str]) -> httpx.Response:
    payment = ask["payment"]
    return await world.channel.client.post(
        world.url(f"/auto-debits/{ask['auto_debit']['id']}/confirmation"),
        json={
            "channel_txn_id": f"wx-{payment['id'][-16:]}",
            "amount_fen": payment["total_fen"],
            "currency": "CNY",
        },
        headers={**token, **key()},
    )


async def _rows(db: Database) -> tuple[dict[int, Agreement], dict[str, Payment]]:
    async with db.unit_of_work() as session:
        agreements = {a.id: a for a in (await session.scalars(select(Agreement))).all()}
        payments = {p.public_id: p for p in (await session.scalars(select(Payment))).all()}
    return agreements, payments


async def test_a_cancel_racing_the_channels_confirmation_lets_only_an_earlier_charge_through(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    made = await _agreements(world, hub)
    past_notice(hub_clock)
    await debit(world)
    await drain(db, settings)
    first: dict[str, dict[str, Any]] = {}
    for ask in requested(receiver):
        first.setdefault(ask["agreement"]["id"], ask)
    assert set(first) == {m["id"] for m in made}
    token = dict(await world.channel.current_headers())  # one token for all (renewed once)
    racers = []
    for m in made:  # each agreement's cancel and confirmation sent together
        racers += [_cancel(world, m["id"], token), _confirm(world, first[m["id"]], token)]
    answers = await asyncio.gather(*racers)
    cancels, confirms = answers[0::2], answers[1::2]
    assert {a.status_code for a in cancels} == {200}
    codes = {a.json().get("code") for a in confirms if a.status_code != 200}
    assert {a.status_code for a in confirms} <= {200, 409}
    assert codes <= {"autodebit_agreement_not_active"}
    agreements, payments = await _rows(db)
    by_debit = {d.public_id: d for d in await debits(db)}
    for m, confirm in zip(made, confirms, strict=True):
        ask = first[m["id"]]
        row, payment = by_debit[ask["auto_debit"]["id"]], payments[ask["payment"]["id"]]
        agreement = agreements[row.agreement_id]
        assert agreement.status == AutoDebitAgreementStatus.CANCELLED and agreement.cancelled_at
        if confirm.status_code == 200:  # the charge came first: posted, before the cancel
            assert row.status == AutoDebitStatus.CONFIRMED
            assert payment.status == PaymentStatus.CONFIRMED or payment.status == (
                PaymentStatus.COMPLETED
            )
            assert payment.confirmed_at is not None
            assert payment.confirmed_at <= agreement.cancelled_at
        else:  # the cancel came first: nothing charged, the quote gone
            assert row.status == AutoDebitStatus.CANCELLED
            assert payment.status == PaymentStatus.EXPIRED and payment.confirmed_at is None
    # Afterwards, however the race went, nothing of these agreements is ever debited again.
    confirmed_before = {p for p, row in payments.items() if row.confirmed_at is not None}
    hub_clock.advance(days=3)
    assert await scan(world, hub) == 0
    assert (await debit(world))["requested"] == 0
    open_ = [
        d
        for d in await debits(db)
        if d.status in (AutoDebitStatus.SCHEDULED, AutoDebitStatus.REQUESTED)
    ]
    assert open_ == []
    _, payments = await _rows(db)
    assert {p for p, row in payments.items() if row.confirmed_at is not None} == confirmed_before
    await ledger_ok(db)


async def test_a_cancel_racing_the_job_that_asks_the_channel_leaves_nothing_to_debit(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    made = await _agreements(world, hub)
    past_notice(hub_clock)
    token = dict(await world.channel.current_headers())
    job, *cancels = await asyncio.gather(
        debit(world), *[_cancel(world, m["id"], token) for m in made]
    )
    assert {a.status_code for a in cancels} == {200}
    assert 0 <= job["requested"]
    # Whether the job asked before a cancel or found it cancelled, no debit is left open, and
    # every quote it made is expired: there is nothing the channel could confirm.
    assert {d.status for d in await debits(db)} == {AutoDebitStatus.CANCELLED}
    _, payments = await _rows(db)
    assert {p.status for p in payments.values()} <= {PaymentStatus.EXPIRED}
    await drain(db, settings)
    for ask in requested(receiver):
        late = await _confirm(world, ask, token)
        assert (late.status_code, late.json()["code"]) == (409, "autodebit_agreement_not_active")
    _, payments = await _rows(db)
    assert all(p.confirmed_at is None for p in payments.values())
