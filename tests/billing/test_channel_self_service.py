"""A channel's self-service on its money: a payment by its own transaction id, its settlement
batches and statements, and refund requests decided as the biller's terms say."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.billing.factories import PayWorld, balances, events, ledger_ok, pay_world
from tests.client import Api
from tests.helpers import move_past
from tests.identity.factories import create_channel
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim


def _own(world: PayWorld, path: str) -> str:
    return f"/v1/channel/cities/{world.city.slug}{path}"


async def _terms(world: PayWorld, service: str, **terms: Any) -> None:
    staff = await world.staff()
    await staff.call("PUT", world.url(f"/services/{service}/biller-terms"), json=terms)
    await staff.client.aclose()


async def _paid(world: PayWorld, db: Database, settings: Settings, service: str = "water") -> Any:
    bill = world.unpaid(service)[0]
    payment = await world.pay(bill)
    await drain(db, settings)
    return await world.get(payment["id"])


async def _actions(db: Database) -> list[str]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(AuditEntry.action))).all())


async def test_a_payment_is_found_by_the_channels_own_txn_id_and_no_other_channels(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    payment = await _paid(world, db, settings)
    found = await world.channel.get(
        _own(world, f"/payments/by-channel-txn/{payment['channel_txn_id']}")
    )
    assert (found["id"], found["status"]) == (payment["id"], "completed")
    problem = await world.channel.get(_own(world, "/payments/by-channel-txn/wx-none"), expect=404)
    assert problem["code"] == "payment_not_found"
    other = await create_channel(db)
    stranger = await api.as_channel(other.client_id, other.secret)
    # Not granted this city: refused before anything is looked up.
    await stranger.get(
        _own(world, f"/payments/by-channel-txn/{payment['channel_txn_id']}"), expect=403
    )


async def test_the_channel_reads_its_own_settlement_batches_and_statements(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    payment = await _paid(world, db, settings)
    completed = dt.datetime.fromisoformat(payment["completed_at"])
    day = completed.astimezone(ZoneInfo(world.city.timezone)).date().isoformat()
    staff = await world.staff()
    made = (await staff.post(world.url("/settlements"), json={"day": day}))["items"]
    await staff.client.aclose()
    ours = [b for b in made if b["party"] == "channel"]
    assert ours and len(made) > len(ours)  # the billers' batches are not the channel's
    page = await world.channel.get(_own(world, "/settlements"))
    assert [b["id"] for b in page["items"]] == [b["id"] for b in ours]
    assert page["items"][0]["net_fen"] == ours[0]["net_fen"]
    assert page["next_cursor"] is None
    empty = await world.channel.get(_own(world, "/settlements"), params={"day": "2001-01-01"})
    assert empty["items"] == []

    csv = f"payment_id,channel_txn_id,amount_fen,currency,kind\n{payment['id']},x,1,CNY,charge\n"
    await world.channel.call("PUT", world.url(f"/statements/{day}"), content=csv)
    listed = await world.channel.get(_own(world, "/statements"))
    assert [(s["day"], s["lines"]) for s in listed["items"]] == [(day, 1)]


async def test_terms_staff_the_request_waits_then_staff_approve_once_and_the_channel_is_told(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    payment = await _paid(world, db, settings)
    url = _own(world, f"/payments/{payment['id']}/refund-requests")
    body = {"amount_fen": 500, "currency": "CNY", "reason": "charged twice"}
    asked = await world.channel.post(url, json=body, headers={"Idempotency-Key": "rr-1"})
    assert (asked["status"], asked["refund_id"]) == ("pending", None)
    again = await world.channel.post(url, json=body, headers={"Idempotency-Key": "rr-1"})
    assert again["id"] == asked["id"]  # a retry is the same request
    assert (await world.get(payment["id"]))["refunded_fen"] == 0  # nothing moved yet

    staff = await world.staff()
    waiting = await staff.get(world.url("/refund-requests"), params={"status": "pending"})
    assert [r["id"] for r in waiting["items"]] == [asked["id"]]
    decision = world.url(f"/refund-requests/{asked['id']}/decision")
    done = await staff.post(decision, json={"approve": True, "note": "ok"}, expect=200)
    assert done["status"] == "refunded" and done["refund_id"].startswith("rf_")
    problem = await staff.post(decision, json={"approve": False}, expect=409)
    assert problem["code"] == "refund_request_decided"
    await staff.client.aclose()
    assert (await world.get(payment["id"]))["refunded_fen"] == 500
    mine = await world.channel.get(_own(world, "/refund-requests"))
    assert [(r["id"], r["status"]) for r in mine["items"]] == [(asked["id"], "refunded")]
    await drain(db, settings)
    assert [
        h["data"]["refund"]["amount_fen"] for h in events(receiver.deliveries, "refund.succeeded")
    ] == [500]
    assert {"refund_request.create", "refund_request.decide"} <= set(await _actions(db))
    await ledger_ok(db)


async def test_a_declined_request_moves_no_money_and_the_channel_is_told(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    payment = await _paid(world, db, settings, "power")
    url = _own(world, f"/payments/{payment['id']}/refund-requests")
    body = {"amount_fen": 100, "currency": "CNY", "reason": "changed my mind"}
    asked = await world.channel.post(url, json=body, headers={"Idempotency-Key": "rr-2"})
    water_staff = await world.staff(Role.PROVIDER_STAFF, provider="water")
    listed = await water_staff.get(world.url("/refund-requests"))
    assert listed["items"] == []  # another biller's request is not theirs
    await water_staff.post(
        world.url(f"/refund-requests/{asked['id']}/decision"), json={"approve": True}, expect=404
    )
    await water_staff.client.aclose()
    biller = await world.staff(Role.PROVIDER_STAFF, provider="power")
    declined = await biller.post(
        world.url(f"/refund-requests/{asked['id']}/decision"),
        json={"approve": False, "note": "used"},
        expect=200,
    )
    await biller.client.aclose()
    assert (declined["status"], declined["decision_note"]) == ("declined", "used")
    assert (await world.get(payment["id"]))["refunded_fen"] == 0
    await drain(db, settings)
    told = events(receiver.deliveries, "refund_request.declined")
    assert [t["data"]["refund_request"]["id"] for t in told] == [asked["id"]]


async def test_terms_channel_refund_at_once_within_the_days_and_none_refuses(
    api: Api, db: Database, sim: Sim, settings: Settings, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    await _terms(world, "water", refund_rule="channel", refund_days=2)
    await _terms(world, "gas", refund_rule="none")
    payment = await _paid(world, db, settings)
    url = _own(world, f"/payments/{payment['id']}/refund-requests")
    whole = {"amount_fen": payment["amount_fen"], "currency": "CNY", "reason": "wrong account"}
    too_much = {**whole, "amount_fen": payment["amount_fen"] + 1}
    problem = await world.channel.post(
        url, json=too_much, headers={"Idempotency-Key": "k0"}, expect=422
    )
    assert (problem["code"], problem["field"]) == ("refund_exceeds_payment", "amount_fen")
    done = await world.channel.post(url, json=whole, headers={"Idempotency-Key": "k1"})
    assert done["status"] == "refunded"
    refunds = await world.channel.get(world.url(f"/payments/{payment['id']}/refunds"))
    assert [(r["source"], r["biller_status"]) for r in refunds["items"]] == [("channel", "pending")]
    assert set((await balances(db, world.city)).values()) == {0}

    late = await _paid(world, db, settings)
    completed = dt.datetime.fromisoformat(late["completed_at"])
    move_past(hub_clock, completed + dt.timedelta(days=2))
    problem = await world.channel.post(
        _own(world, f"/payments/{late['id']}/refund-requests"),
        json={**whole, "amount_fen": 1},
        headers={"Idempotency-Key": "k2"},
        expect=409,
    )
    assert problem["code"] == "refund_window_closed"

    gas = await _paid(world, db, settings, "gas")
    problem = await world.channel.post(
        _own(world, f"/payments/{gas['id']}/refund-requests"),
        json={**whole, "amount_fen": 1},
        headers={"Idempotency-Key": "k3"},
        expect=409,
    )
    assert problem["code"] == "refunds_not_accepted"
    await ledger_ok(db)
