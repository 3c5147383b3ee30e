"""Auto-debit with the test clock: each bill is planned once and the resident told, the
channel is asked after the notice period by a signed webhook, its confirmation posts the
payment as any other; above the limit nothing is debited; failures are retried, then reported."""

from __future__ import annotations

from cityhub.autodebit import runs
from cityhub.autodebit.models import AutoDebitStatus
from cityhub.billing.models import PaymentStatus
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity.models import Consent
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.autodebit.factories import (
    agree,
    answer,
    debit,
    debits,
    key,
    notices,
    past_notice,
    payments_of,
    requested,
    scan,
    topics,
)
from tests.billing.factories import PayWorld, ledger_ok, pay_world
from tests.client import Api
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim


async def test_a_bill_is_told_then_debited_once_after_the_notice_period_as_a_payment(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    bill = world.unpaid("water")[0]
    agreement = await agree(world, bill)
    assert (agreement["status"], agreement["user_id"]) == ("active", "u1")
    planned = await scan(world, hub)
    assert planned >= 1 and await scan(world, hub) == 0  # once per bill, however often it runs
    rows = await debits(db)
    assert len(rows) == planned and {r.status for r in rows} == {AutoDebitStatus.SCHEDULED}
    assert len(await notices(db, "autodebit-scheduled:")) == planned  # the resident was told
    assert (await debit(world))["requested"] == 0  # the notice period is not over
    past_notice(hub_clock)
    assert (await debit(world))["requested"] == planned
    assert (await debit(world))["requested"] == 0  # asked once
    await drain(db, settings)
    asked = requested(receiver)
    assert len(asked) == planned
    assert {a["auto_debit"]["bill_id"] for a in asked} == {r.bill_ref for r in rows}
    first = asked[0]
    total = first["payment"]["total_fen"]
    wrong = await answer(world, first, expect=422, amount_fen=total - 1)
    assert wrong["code"] == "amount_mismatch"  # refused whole: the debit still waits
    above = await answer(world, first, expect=422, amount_fen=1_000_001)
    assert (above["code"], above["field"]) == ("autodebit_over_limit", "amount_fen")
    confirmed = await answer(world, first)
    assert confirmed["auto_debit"]["status"] == "confirmed"
    assert confirmed["payment"]["status"] == "confirmed"
    again = await answer(world, first, expect=409)  # a second charge of the same bill: refused
    assert again["code"] == "autodebit_not_requested"
    await drain(db, settings)
    paid = await world.get(first["payment"]["id"])
    assert paid["status"] == "completed"  # the biller was paid as for any payment
    assert "payment.completed" in topics(receiver)
    await ledger_ok(db)
    listed = await world.channel.get(world.url(f"/auto-debit-agreements/{agreement['id']}/debits"))
    assert {d["status"] for d in listed["items"]} >= {"confirmed"}


async def test_the_agreement_records_a_purpose_bound_consent_and_one_per_account(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    made = await agree(world, bill, limit_fen=20_000)
    async with db.unit_of_work() as session:
        consent = await session.get(Consent, made["consent_id"])
    assert consent is not None and consent.scope == f"autodebit:{made['id']}"
    assert bill.account in consent.purpose and "20000" in consent.purpose
    twice = await agree(world, bill, user_id="u2", expect=409)
    assert twice["code"] == "autodebit_agreement_exists"
    body = {"user_id": "u1", "service": "water", "account": bill.account, "limit_fen": 1}
    no_key = await world.channel.post(
        world.url("/auto-debit-agreements"), json={**body, "currency": "CNY"}, expect=400
    )
    assert no_key["code"] == "idempotency_key_required"
    stranger = await world.channel.post(
        world.url("/auto-debit-agreements"),
        json={**body, "user_id": "nobody", "currency": "CNY"},
        headers=key(),
        expect=404,
    )
    assert stranger["code"] == "resident_not_found"


async def test_a_bill_above_the_limit_is_never_debited_and_the_resident_is_told(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    bill = world.unpaid("power")[0]
    await agree(world, bill, limit_fen=bill.amount_fen - 10)
    assert await scan(world, hub) >= 1
    rows = [r for r in await debits(db) if r.bill_ref == bill.bill_id]
    assert [r.status for r in rows] == [AutoDebitStatus.OVER_LIMIT]
    assert await notices(db, f"autodebit-over-limit:{rows[0].public_id}")
    past_notice(hub_clock)
    await debit(world)
    await drain(db, settings)
    asked = requested(receiver)
    assert bill.bill_id not in {a["auto_debit"]["bill_id"] for a in asked}
    assert all(a["payment"]["total_fen"] <= bill.amount_fen - 10 for a in asked)


async def test_failures_are_retried_a_bounded_number_of_times_then_reported(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    bill = world.unpaid("gas")[0]
    await agree(world, bill)
    await scan(world, hub)
    [row] = [r for r in await debits(db) if r.bill_ref == bill.bill_id]
    past_notice(hub_clock)
    url = world.url(f"/auto-debits/{row.public_id}/failure")
    for attempt in range(1, runs.MAX_ATTEMPTS + 1):
        assert (await debit(world))["requested"] >= 1
        failed = await world.channel.post(
            url, json={"code": "no_funds", "detail": "wallet empty"}, expect=200
        )
        assert failed["attempts"] == attempt
        assert (await debit(world))["requested"] == 0  # not again before the retry wait
        hub_clock.advance(hours=24, minutes=1)
    assert failed["status"] == "failed" and failed["failure_code"] == "no_funds"
    assert (await debit(world))["requested"] == 0  # never asked again
    late = await world.channel.post(url, json={"code": "no_funds"}, expect=409)
    assert late["code"] == "autodebit_not_requested"
    await drain(db, settings)
    assert topics(receiver).count("autodebit.failed") == 1
    assert len([a for a in requested(receiver) if a["auto_debit"]["id"] == row.public_id]) == 3
    assert await notices(db, f"autodebit-failed:{row.public_id}")
    quotes = [p for p in await payments_of(db) if p.bill_id == row.bill_id]
    assert len(quotes) == 3 and {p.status for p in quotes} == {PaymentStatus.EXPIRED}


async def test_a_request_nobody_answers_counts_as_a_failed_attempt_when_its_quote_runs_out(
    api: Api, db: Database, sim: Sim, hub: ConnectorHub, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    await agree(world, bill)
    await scan(world, hub)
    past_notice(hub_clock)
    await debit(world)
    [row] = [r for r in await debits(db) if r.bill_ref == bill.bill_id]
    assert row.status == AutoDebitStatus.REQUESTED and row.answer_by is not None
    hub_clock.advance(hours=1)  # past the quote (15 minutes)
    assert (await debit(world))["unanswered"] >= 1
    [row] = [r for r in await debits(db) if r.bill_ref == bill.bill_id]
    assert (row.status, row.failure_code, row.attempts) == (
        AutoDebitStatus.SCHEDULED,
        "no_answer",
        1,
    )
