"""What a channel may send: amounts, currencies, keys, confirmations, and what it may see."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from cityhub.billing.models import Payment, Posting
from cityhub.identity.models import Role
from cityhub.outbox import OutboxEvent
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from cityhub.platform.idempotency import IdempotencyKey
from tests.billing.factories import PayWorld, pay_world, quote_expires_at
from tests.cities.factories import create_city, create_grant
from tests.client import Api
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.simulators.fixtures import Sim


async def _world(db: Database, api: Api, sim: Sim) -> tuple[PayWorld, Any]:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    await world.look_up(bill)
    return world, bill


async def _payments(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Payment)) or 0)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (12.5, "validation_failed"),  # a fraction of a fen
        (1200.0, "validation_failed"),  # a float, even a whole one
        ("1200", "validation_failed"),  # a string
        (-100, "validation_failed"),
        (0, "validation_failed"),
        ("above", "amount_above_bill"),
        ("below", "amount_not_exact"),
    ],
)
async def test_amounts_that_are_not_whole_positive_fen_within_the_bill_are_422(
    api: Api, db: Database, sim: Sim, amount: Any, code: str
) -> None:
    world, bill = await _world(db, api, sim)
    if amount == "above":
        amount = bill.amount_fen + 1
    elif amount == "below":
        amount = bill.amount_fen - 1
    problem = await world.quote(bill, amount_fen=amount, expect=422)
    assert (problem["code"], problem["field"]) == (code, "amount_fen")
    assert await _payments(db) == 0


async def test_a_currency_other_than_the_bills_is_422(api: Api, db: Database, sim: Sim) -> None:
    world, bill = await _world(db, api, sim)
    problem = await world.quote(bill, currency="USD", expect=422)
    assert (problem["code"], problem["field"]) == ("currency_mismatch", "currency")
    problem = await world.quote(bill, currency="cny", expect=422)
    assert problem["field"] == "currency"


async def test_a_bill_never_shown_cannot_be_paid(api: Api, db: Database, sim: Sim) -> None:
    world = await pay_world(db, api, sim)
    bill = world.unpaid("water")[0]
    problem = await world.quote(bill, expect=404)
    assert (problem["code"], problem["field"]) == ("bill_not_found", "bill_id")


async def test_the_same_key_and_body_give_the_same_payment_another_body_is_422(
    api: Api, db: Database, sim: Sim
) -> None:
    world, bill = await _world(db, api, sim)
    first = await world.quote(bill, key="k-1")
    again = await world.quote(bill, key="k-1")
    assert again == first
    assert world.channel.last is not None
    assert world.channel.last.headers["idempotent-replay"] == "true"
    problem = await world.quote(bill, key="k-1", user_id="someone-else", expect=422)
    assert (problem["code"], problem["field"]) == ("idempotency_mismatch", "Idempotency-Key")
    assert await _payments(db) == 1


async def test_creating_a_payment_needs_an_idempotency_key(
    api: Api, db: Database, sim: Sim
) -> None:
    world, bill = await _world(db, api, sim)
    body = {"service": "water", "bill_id": bill.bill_id, "amount_fen": bill.amount_fen}
    problem = await world.channel.post(
        world.url("/payments"), json={**body, "currency": "CNY"}, expect=400
    )
    assert (problem["code"], problem["field"]) == ("idempotency_key_required", "Idempotency-Key")
    assert await _payments(db) == 0


async def test_a_key_whose_first_request_still_runs_is_409_then_taken_over_once_it_died(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world, bill = await _world(db, api, sim)
    # What a request in progress leaves: its claim on the key, with no answer yet. Its request
    # hash must be the one of the retry, so make the first request and then un-answer it.
    await world.quote(bill, key="k-run")
    async with db.unit_of_work() as session:
        await session.execute(update(IdempotencyKey).values(status_code=0, body={}))
        await session.execute(update(Payment).values(user_id="first"))
    problem = await world.quote(bill, key="k-run", expect=409)
    assert (problem["code"], problem["field"]) == ("idempotency_in_flight", "Idempotency-Key")
    assert world.channel.last is not None and world.channel.last.headers["retry-after"] == "1"
    hub_clock.advance(minutes=5)  # the first request's process died a while ago
    taken_over = await world.quote(bill, key="k-run")
    assert taken_over["status"] == "quoted"


async def test_concurrent_requests_with_one_key_make_one_payment(
    api: Api, db: Database, sim: Sim
) -> None:
    import asyncio

    world, bill = await _world(db, api, sim)
    body = {"service": "water", "bill_id": bill.bill_id, "amount_fen": bill.amount_fen}
    answers = await asyncio.gather(
        *[
            world.channel.client.post(
                world.url("/payments"),
                json={**body, "currency": "CNY"},
                headers={**world.channel.headers, "Idempotency-Key": "same"},
            )
            for _ in range(20)
        ]
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}, statuses
    created = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    assert all(a.json()["code"] == "idempotency_in_flight" for a in answers if a.status_code == 409)
    assert await _payments(db) == 1


async def test_confirming_twice_after_expiry_or_with_another_amount_is_a_clear_4xx(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world, bill = await _world(db, api, sim)
    payment = await world.quote(bill)
    problem = await world.confirm(payment, amount_fen=payment["total_fen"] + 1, expect=422)
    assert (problem["code"], problem["field"]) == ("amount_mismatch", "amount_fen")
    problem = await world.confirm(payment, amount_fen=10.5, expect=422)
    assert problem["field"] == "amount_fen"
    await world.confirm(payment, txn="t-1")
    problem = await world.confirm(payment, txn="t-1", expect=409)
    assert problem["code"] == "already_confirmed" and problem["status_now"] == "confirmed"

    other = world.unpaid("water")[0]
    await world.look_up(other)
    late = await world.quote(other)
    problem = await world.confirm(late, txn="t-1", expect=409)
    assert (problem["code"], problem["field"]) == ("channel_txn_id_used", "channel_txn_id")
    move_past(hub_clock, await quote_expires_at(db, late["id"]))
    assert (await world.get(late["id"]))["status"] == "expired"
    problem = await world.confirm(late, txn="t-2", expect=409)
    assert problem["code"] == "quote_expired"


async def test_a_refused_confirmation_leaves_nothing_behind(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world, bill = await _world(db, api, sim)
    payment = await world.quote(bill)
    await world.confirm(payment, txn="t-1")

    async def written() -> tuple[int, int, int]:
        async with db.unit_of_work() as session:
            counts = [
                await session.scalar(select(func.count()).select_from(table))
                for table in (IdempotencyKey, Posting, OutboxEvent)
            ]
        return (int(counts[0] or 0), int(counts[1] or 0), int(counts[2] or 0))

    before = await written()
    url = world.url(f"/payments/{payment['id']}/confirmation")
    body = {"channel_txn_id": "t-1", "amount_fen": payment["total_fen"], "currency": "CNY"}
    problem = await world.channel.post(
        url, json=body, headers={"Idempotency-Key": "again-1"}, expect=409
    )
    assert problem["code"] == "already_confirmed"
    assert await written() == before  # no key kept, no posting, no event

    other = world.unpaid("water")[0]
    await world.look_up(other)
    late = await world.quote(other)
    before = await written()
    move_past(hub_clock, await quote_expires_at(db, late["id"]))
    body = {"channel_txn_id": "t-2", "amount_fen": late["total_fen"], "currency": "CNY"}
    problem = await world.channel.post(
        world.url(f"/payments/{late['id']}/confirmation"),
        json=body,
        headers={"Idempotency-Key": "late-1"},
        expect=409,
    )
    assert problem["code"] == "quote_expired"
    # The refusal kept no key, no posting, no event, and the quote is as it was.
    assert await written() == before
    assert (await world.get(late["id"]))["status"] == "expired"
    async with db.unit_of_work() as session:
        stored = await session.scalar(select(Payment.status).where(Payment.public_id == late["id"]))
    assert stored == "quoted"


async def test_a_second_payment_of_an_exact_bill_is_refused_at_confirmation(
    api: Api, db: Database, sim: Sim
) -> None:
    world, bill = await _world(db, api, sim)
    first, second = await world.quote(bill), await world.quote(bill)
    await world.confirm(first)
    problem = await world.confirm(second, expect=409)
    assert (problem["code"], problem["field"]) == ("bill_being_paid", "bill_id")
    assert (await world.get(second["id"]))["status"] == "quoted"
    problem = await world.quote(bill, expect=409)
    assert problem["code"] == "bill_being_paid"


async def test_a_channel_sees_only_its_own_payments_and_staff_only_their_citys(
    api: Api, db: Database, sim: Sim
) -> None:
    world, bill = await _world(db, api, sim)
    payment = await world.quote(bill)
    other_login = await create_channel(db)
    for service in world.services.values():
        await create_grant(db, channel=other_login.channel, service=service)
    other = await api.as_channel(other_login.client_id, other_login.secret)
    problem = await other.get(world.url(f"/payments/{payment['id']}"), expect=404)
    assert problem["code"] == "payment_not_found"
    assert (await other.get(world.url("/payments")))["items"] == []
    problem = await other.post(
        world.url(f"/payments/{payment['id']}/confirmation"),
        json={"channel_txn_id": "x", "amount_fen": payment["total_fen"], "currency": "CNY"},
        expect=404,
    )
    mine = await world.channel.get(world.url("/payments"))
    assert [p["id"] for p in mine["items"]] == [payment["id"]]

    staff = await world.staff(Role.AUDITOR)
    assert (await staff.get(world.url(f"/payments/{payment['id']}")))["id"] == payment["id"]
    elsewhere = await create_city(db)
    stranger = await create_staff(db, city=elsewhere)
    outsider = await api.as_staff(stranger.username, PASSWORD)
    problem = await outsider.get(world.url(f"/payments/{payment['id']}"), expect=404)
    assert problem["code"] == "city_not_found"
    problem = await outsider.get(world.url("/payments"), expect=404)
    await outsider.client.aclose()
    await staff.client.aclose()
