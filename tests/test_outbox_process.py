"""The outbox across processes: a hub killed mid-work, `cityhub worker`, the outbox commands."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from cityhub import outbox
from cityhub.outbox import Dispatcher, OutboxEvent
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.identity.factories import create_channel
from tests.outbox_helpers import (
    Hub,
    Receiver,
    add_events,
    event,
    eventually,
    handled,
    invoke,
    statuses,
    usage_total,
)

HOOK_SECRET = "whsec-outbox-tests"


@pytest.mark.slow
async def test_killing_the_hub_while_the_outbox_holds_work_loses_none_of_it(
    db: Database, tmp_path: Path
) -> None:
    n = 200
    with Receiver(secret=HOOK_SECRET, delay=0.005) as receiver:
        city = await create_city(db)
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=HOOK_SECRET)
        ids = await add_events(
            db, n, topic="grant.created", city_id=city.id, channel_id=login.channel.id
        )
        hub = Hub(
            db.url,
            tmp_path,
            CITYHUB_OUTBOX_LEASE_SECONDS="1",
            CITYHUB_OUTBOX_POLL_SECONDS="0.05",
            CITYHUB_WEBHOOK_TIMEOUT_SECONDS="0.5",
        )
        try:
            hub.start("serve")
            await eventually(lambda: len(receiver.ids()) >= 30, timeout=15, what="deliveries")
            hub.kill()
            assert (await statuses(db)).get("pending", 0) > 0, "killed too late to prove anything"
            assert len(receiver.ids()) < n

            hub.start("serve")
            await eventually(
                lambda: _nothing_pending(db),
                timeout=20,
                what=lambda: f"the outbox to drain; the hub said:\n{hub.output()}",
            )
            hub.stop()  # SIGTERM: a graceful stop lets the dispatcher finish its round
            assert "outbox_dispatcher_stopped" in hub.output(), hub.output()
        finally:
            hub.stop()
        seen = receiver.ids()
    assert await statuses(db) == {"done": n}
    assert await handled(db) == {(e, h): 1 for e in ids for h in ("webhook", "usage")}
    assert set(seen) == set(ids)  # every event reached the channel, some perhaps twice
    assert all(d.signed for d in receiver.deliveries)
    assert await usage_total(db, "grant.created") == n  # and was counted exactly once


async def _nothing_pending(db: Database) -> bool:
    return "pending" not in await statuses(db)


async def test_dead_events_are_counted_and_requeued_from_the_command_line(db: Database) -> None:
    city = await create_city(db)
    ids = await add_events(db, 2, topic="test.nothing", city_id=city.id)
    async with db.unit_of_work() as session:
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.event_id == ids[0]).values(status="dead")
        )
    code, output = await invoke(db.url, "outbox", "status")
    assert code == 0 and json.loads(output)["dead"] == 1 and json.loads(output)["pending"] == 1
    code, output = await invoke(db.url, "outbox", "retry", ids[0])
    assert (code, output.strip()) == (0, "1 dead event(s) requeued")
    assert await statuses(db) == {"pending": 2}


async def test_pruning_deletes_only_events_done_before_the_cutoff(
    db: Database, settings: Settings, hub_clock: Clock
) -> None:
    city = await create_city(db)
    [old] = await add_events(db, 1, topic="test.nothing", city_id=city.id)
    dispatcher = Dispatcher(db, settings)
    try:
        await dispatcher.drain()
        hub_clock.advance(days=8)  # `old` was done eight days ago
        [recent] = await add_events(db, 1, topic="test.nothing", city_id=city.id)
        async with db.unit_of_work() as session:  # due tomorrow: still pending when pruned
            waiting = await outbox.enqueue(
                session=session, topic="test.nothing", city_id=city.id, payload={},
                delay=dt.timedelta(days=1),
            )  # fmt: skip
        await dispatcher.drain()
    finally:
        await dispatcher.close()
    assert (await event(db, waiting.event_id)).status == "pending"
    code, output = await invoke(db.url, "outbox", "prune", "--days", "7")
    assert (code, output.strip()) == (0, "1 done event(s) pruned")
    assert await statuses(db) == {"done": 1, "pending": 1}
    assert set(await handled(db)) == {(recent, "usage")}


async def test_cityhub_worker_once_carries_out_what_is_due(db: Database, tmp_path: Path) -> None:
    city = await create_city(db)
    ids = await add_events(db, 5, topic="test.nothing", city_id=city.id)
    hub = Hub(db.url, tmp_path)
    hub.start("worker", "--once")
    code = await asyncio.to_thread(hub.wait, 30)
    assert code == 0, hub.output()
    assert await statuses(db) == {"done": 5}
    assert set(await handled(db)) == {(e, "usage") for e in ids}
