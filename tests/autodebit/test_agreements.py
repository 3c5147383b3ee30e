"""Agreements are listed, paused, resumed and cancelled by the channel that debits, and by the
resident on any channel where they are proven linked (the debiting channel is told); nobody
else sees them. A paused agreement's debit waits; a cancelled one never debits again."""

from __future__ import annotations

import json

from cityhub.autodebit.models import AutoDebitAgreementStatus, AutoDebitStatus
from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.autodebit.factories import agree, debit, debits, link, past_notice, requested, scan
from tests.billing.factories import PayWorld, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim


async def _other_channel(world: PayWorld) -> tuple[Api, int]:
    login = await create_channel(world.db)
    for service in world.services.values():
        await create_grant(world.db, channel=login.channel, service=service)
    return await world.api.as_channel(login.client_id, login.secret), login.channel.id


async def test_the_resident_acts_from_any_channel_where_linked_and_the_debiting_channel_is_told(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    made = await agree(world, world.unpaid("water")[0])
    other, other_id = await _other_channel(world)
    await other.post("/v1/residents", json={"user_id": "stranger"})
    url = world.url(f"/auto-debit-agreements/{made['id']}")
    # Unlinked, or without saying for whom: another channel's agreement does not exist there.
    for body in ({"user_id": "stranger"}, {}):
        problem = await other.post(f"{url}/pause", json=body, expect=404)
        assert problem["code"] == "autodebit_agreement_not_found"
    assert (await other.get(world.url("/auto-debit-agreements"), params={"user_id": "stranger"}))[
        "items"
    ] == []
    await link(db, channel_id=other_id, user_id="alice-on-b", agreement_id=made["id"])
    seen = await other.get(world.url("/auto-debit-agreements"), params={"user_id": "alice-on-b"})
    assert [(a["id"], a["channel"], a["user_id"]) for a in seen["items"]] == [
        (made["id"], made["channel"], None)  # the other channel's user id is not shown
    ]
    paused = await other.post(f"{url}/pause", json={"user_id": "alice-on-b"}, expect=200)
    assert paused["status"] == "paused" and paused["changed_by"].startswith("resident via")
    resumed = await world.channel.post(f"{url}/resume", json={}, expect=200)
    assert resumed["status"] == "active"
    cancelled = await other.post(f"{url}/cancel", json={"user_id": "alice-on-b"}, expect=200)
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"]
    again = await world.channel.post(f"{url}/cancel", json={}, expect=200)  # as it is
    assert again["status"] == "cancelled"
    refused = await world.channel.post(f"{url}/resume", json={}, expect=409)
    assert refused["code"] == "autodebit_agreement_cancelled"
    await drain(db, settings)
    bodies = [json.loads(d.body) for d in receiver.deliveries]
    changed = [
        b["data"]["agreement"]["status"]
        for b in bodies
        if b["type"] == ("autodebit.agreement_changed")
    ]
    assert changed == ["paused", "cancelled"]  # what others did; not its own resume
    consent = [b["data"] for b in bodies if b["type"] == "consent.withdrawn"]
    assert [c["consent_id"] for c in consent] == [made["consent_id"]]  # the purpose is over
    mine = await world.channel.get(world.url("/auto-debit-agreements"))
    assert [(a["id"], a["status"], a["user_id"]) for a in mine["items"]] == [
        (made["id"], "cancelled", "u1")
    ]


async def test_a_paused_agreement_waits_and_a_cancelled_one_never_debits_again(
    world: PayWorld,
    db: Database,
    settings: Settings,
    hub: ConnectorHub,
    receiver: Receiver,
    hub_clock: Clock,
) -> None:
    made = await agree(world, world.unpaid("water")[0])
    url = world.url(f"/auto-debit-agreements/{made['id']}")
    planned = await scan(world, hub)
    await world.channel.post(f"{url}/pause", json={}, expect=200)
    past_notice(hub_clock)
    assert (await debit(world))["requested"] == 0  # paused: the debits wait
    assert {r.status for r in await debits(db)} == {AutoDebitStatus.SCHEDULED}
    await world.channel.post(f"{url}/resume", json={}, expect=200)
    assert (await debit(world))["requested"] == planned
    await drain(db, settings)
    [ask, *_] = requested(receiver)
    await world.channel.post(f"{url}/cancel", json={}, expect=200)
    assert {r.status for r in await debits(db)} == {AutoDebitStatus.CANCELLED}
    problem = await world.channel.post(
        world.url(f"/auto-debits/{ask['auto_debit']['id']}/confirmation"),
        json={
            "channel_txn_id": "wx-late",
            "amount_fen": ask["payment"]["total_fen"],
            "currency": "CNY",
        },
        headers={"Idempotency-Key": "late-1"},
        expect=409,
    )
    assert problem["code"] == "autodebit_agreement_not_active"
    paid = await world.get(ask["payment"]["id"])
    assert paid["status"] == "expired"  # its quote went with the cancel
    hub_clock.advance(days=40)  # time passes: the jobs run on
    assert await scan(world, hub) == 0
    assert (await debit(world))["requested"] == 0


async def test_withdrawing_the_agreements_consent_cancels_it(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    made = await agree(world, world.unpaid("water")[0])
    await world.channel.delete(f"/v1/residents/u1/consents/{made['consent_id']}", expect=200)
    await drain(db, settings)
    found = await world.channel.get(world.url(f"/auto-debit-agreements/{made['id']}"))
    assert found["status"] == AutoDebitAgreementStatus.CANCELLED.value
    assert found["changed_by"] == "resident: consent withdrawn"
