"""The transactional outbox: written with the change, carried out after it, each handler once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import inspect, select, text, update

from cityhub import outbox
from cityhub.outbox import Dispatcher, HandlerContext, OutboxEvent, Registry, usage
from cityhub.outbox import admin as outbox_admin
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from tests.cities.factories import create_city
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import (
    Receiver,
    add_events,
    event,
    eventually,
    handled,
    make_due,
    statuses,
    usage_total,
)

HOOK_SECRET = "whsec-outbox-tests"


async def test_an_event_enqueued_in_a_rolled_back_transaction_leaves_nothing(db: Database) -> None:
    city = await create_city(db)
    with pytest.raises(RuntimeError, match="change failed"):
        async with db.unit_of_work() as session:
            await outbox.enqueue(
                session=session, topic="grant.created", city_id=city.id, payload={}
            )
            raise RuntimeError("change failed")
    assert await statuses(db) == {}


async def test_a_committed_event_is_carried_out_once_by_each_handler(
    db: Database, settings: Settings, hub_clock: Clock
) -> None:
    city = await create_city(db)
    login = await create_channel(db)  # no webhook URL: the webhook handler has nothing to do
    [event_id] = await add_events(
        db, 1, topic="grant.created", city_id=city.id, channel_id=login.channel.id
    )
    dispatcher = Dispatcher(db, settings, registry=outbox.load_handlers())
    try:
        await dispatcher.drain()
        await make_due(db, hub_clock)
        await dispatcher.drain()  # a second pass finds nothing left to do
    finally:
        await dispatcher.close()
    done = await event(db, event_id)
    assert (done.status, done.attempts, done.locked_by, done.last_error) == ("done", 0, None, None)
    assert done.done_at is not None and done.done_at >= done.created_at
    assert await handled(db) == {(event_id, "webhook"): 1, (event_id, "usage"): 1}
    assert await usage_total(db, "grant.created") == 1


def flaky_registry(failures: int, calls: list[str]) -> Registry:
    """`usage` counts (in the database) and `flaky` fails its first `failures` runs."""
    registry = Registry()

    @registry.on("test.flaky", "usage")
    async def count(ctx: HandlerContext, event: OutboxEvent) -> None:
        calls.append("usage")
        await usage.count(ctx, event)

    @registry.on("test.flaky", "flaky")
    async def flaky(ctx: HandlerContext, event: OutboxEvent) -> None:
        calls.append("flaky")
        if calls.count("flaky") <= failures:
            raise RuntimeError(f"boom {calls.count('flaky')}")

    return registry


async def test_a_failing_handler_backs_off_and_finished_handlers_are_not_rerun(
    db: Database, settings: Settings, hub_clock: Clock
) -> None:
    city = await create_city(db)
    [event_id] = await add_events(db, 1, topic="test.flaky", city_id=city.id)
    calls: list[str] = []
    dispatcher = Dispatcher(db, settings, registry=flaky_registry(2, calls))
    try:
        before = utcnow()
        await dispatcher.drain()
        first = await event(db, event_id)
        assert (first.status, first.attempts, first.last_error) == (
            "pending",
            1,
            "RuntimeError: boom 1",
        )
        assert first.available_at > before and first.locked_by is None
        await dispatcher.drain()  # not due yet: nothing runs
        assert calls == ["usage", "flaky"]

        await make_due(db, hub_clock)
        await dispatcher.drain()
        second = await event(db, event_id)
        assert (second.attempts, second.last_error) == (2, "RuntimeError: boom 2")
        assert calls == ["usage", "flaky", "flaky"]  # usage finished on the first run

        await make_due(db, hub_clock)
        await dispatcher.drain()
    finally:
        await dispatcher.close()
    done = await event(db, event_id)
    assert (done.status, done.attempts) == ("done", 2)
    assert calls == ["usage", "flaky", "flaky", "flaky"]
    assert await handled(db) == {(event_id, "usage"): 1, (event_id, "flaky"): 1}
    assert await usage_total(db, "test.flaky") == 1


async def test_an_event_is_dead_after_max_attempts_and_can_be_requeued(
    db: Database, settings: Settings, hub_clock: Clock
) -> None:
    city = await create_city(db)
    [event_id] = await add_events(db, 1, topic="test.flaky", city_id=city.id)
    calls: list[str] = []
    dispatcher = Dispatcher(
        db,
        settings.model_copy(update={"outbox_max_attempts": 3}),
        registry=flaky_registry(3, calls),
    )
    try:
        for _ in range(5):  # two more rounds than allowed: a dead event stays dead
            await make_due(db, hub_clock)
            await dispatcher.drain()
        dead = await event(db, event_id)
        assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "RuntimeError: boom 3")
        assert calls.count("flaky") == 3

        async with db.unit_of_work() as session:
            assert await outbox_admin.requeue(session=session) == 1
        await dispatcher.drain()  # the handler works now (it failed three times)
    finally:
        await dispatcher.close()
    done = await event(db, event_id)
    assert (done.status, done.attempts) == ("done", 0)
    assert await usage_total(db, "test.flaky") == 1


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap() -> None:
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (5, 16.0), (12, 600.0), (400, 600.0)):
        delays = [outbox.backoff(attempt) for _ in range(200)]
        assert all(0.5 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 150  # jittered, so retries of many events spread out


async def test_concurrent_dispatchers_carry_out_every_event_once(
    db: Database, settings: Settings
) -> None:
    n = 60
    with Receiver(secret=HOOK_SECRET) as receiver:
        cities = [await create_city(db) for _ in range(4)]
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=HOOK_SECRET)
        ids: list[str] = []
        for i in range(n):  # cities take turns, so dispatchers race to start the same counters
            ids += await add_events(
                db, 1, topic="grant.created", city_id=cities[i % 4].id, channel_id=login.channel.id
            )
        # Each dispatcher has a database engine (and so connections) of its own.
        engines = [Database(db.url, pool_size=2) for _ in range(4)]
        dispatchers = [
            Dispatcher(engine, settings, registry=outbox.load_handlers(), batch=5)
            for engine in engines
        ]
        try:
            await asyncio.gather(*(d.drain() for d in dispatchers))
        finally:
            for d, engine in zip(dispatchers, engines, strict=True):
                await d.close()
                await engine.dispose()
        assert set(receiver.ids()) == set(ids)
        assert all(d.signed for d in receiver.deliveries)
    assert await statuses(db) == {"done": n}
    assert await handled(db) == {(e, h): 1 for e in ids for h in ("webhook", "usage")}
    assert await usage_total(db, "grant.created") == n


async def test_dispatchers_starting_the_same_counter_at_once_both_count(
    db: Database, settings: Settings
) -> None:
    cities = [await create_city(db) for _ in range(4)]
    for city in cities:  # three events a city, in a row: the first round starts each counter 3x
        await add_events(db, 3, topic="test.nothing", city_id=city.id)
    engines = [Database(db.url, pool_size=2) for _ in range(6)]
    dispatchers = [Dispatcher(engine, settings, batch=1) for engine in engines]
    try:
        await asyncio.gather(*(d.drain() for d in dispatchers))
    finally:
        for d, engine in zip(dispatchers, engines, strict=True):
            await d.close()
            await engine.dispose()
    assert await statuses(db) == {"done": 12}  # no counter conflict turned into a retry
    assert await usage_total(db, "test.nothing") == 12


async def test_a_dispatcher_whose_lease_ran_out_does_not_double_database_work(
    db: Database, settings: Settings
) -> None:
    city = await create_city(db)
    [event_id] = await add_events(db, 1, topic="test.gated", city_id=city.id)
    entered, release = asyncio.Event(), asyncio.Event()
    runs: list[int] = []
    registry = Registry()

    @registry.on("test.gated", "usage")
    async def gated(ctx: HandlerContext, event: OutboxEvent) -> None:
        runs.append(len(runs))
        if len(runs) == 1:  # the first run stalls (a GC pause, a slow disk) past its lease
            entered.set()
            await release.wait()
        await usage.count(ctx, event)

    slow_db, fast_db = Database(db.url, pool_size=2), Database(db.url, pool_size=2)
    slow = Dispatcher(slow_db, settings, registry=registry, lease_seconds=0.3)
    fast = Dispatcher(fast_db, settings, registry=registry, lease_seconds=30)
    try:
        stalled = asyncio.create_task(slow.run_once())
        await asyncio.wait_for(entered.wait(), 10)
        # The other dispatcher takes the event over once the lease has run out, and finishes it.
        await eventually(fast.run_once, what="the lease to run out")
        assert (await event(db, event_id)).status == "done"
        release.set()
        assert await asyncio.wait_for(stalled, 10) == 1
    finally:
        release.set()
        for d, engine in ((slow, slow_db), (fast, fast_db)):
            await d.close()
            await engine.dispose()
    assert len(runs) == 2  # both ran it, but only one of them counts
    assert await usage_total(db, "test.gated") == 1
    assert await handled(db) == {(event_id, "usage"): 1}
    done = await event(db, event_id)
    assert (done.status, done.attempts, done.last_error) == ("done", 0, None)


async def test_stopping_releases_the_rest_of_a_batch(db: Database, settings: Settings) -> None:
    city = await create_city(db)
    await add_events(db, 3, topic="test.nothing", city_id=city.id)
    first, second = Dispatcher(db, settings), Dispatcher(db, settings)
    stop = asyncio.Event()
    stop.set()
    try:
        assert await first.run_once(stop) == 3
        assert len(await second.claim()) == 3  # no need to wait out the first one's lease
    finally:
        await first.close()
        await second.close()


async def test_the_dispatcher_survives_the_database_going_away(
    db: Database, settings: Settings
) -> None:
    city = await create_city(db)
    [first_id] = await add_events(db, 1, topic="test.nothing", city_id=city.id)
    engine = Database(db.url, pool_size=2)
    dispatcher = Dispatcher(engine, settings.model_copy(update={"outbox_poll_seconds": 0.02}))
    stop = asyncio.Event()
    await _rename(db, "outbox", "outbox_away")  # the table vanishes: every round now fails
    task = asyncio.create_task(dispatcher.run_forever(stop))
    try:
        await eventually(lambda: dispatcher.failed_rounds >= 2, what="failed rounds")
        await _rename(db, "outbox_away", "outbox")
        await eventually(lambda: _is_done(db, first_id), what="the event after the outage")
        if not db.is_sqlite:  # the server drops every connection (a restart, a failover)
            async with db.engine.connect() as connection:
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            await db.engine.dispose()  # the test's own pool lost its connections too
        [second_id] = await add_events(db, 1, topic="test.nothing", city_id=city.id)
        await eventually(lambda: _is_done(db, second_id), what="an event after reconnecting")
    finally:
        if await _has_table(db, "outbox_away"):
            await _rename(db, "outbox_away", "outbox")
        stop.set()
        await asyncio.wait_for(task, 10)
        await dispatcher.close()
        await engine.dispose()
    assert task.exception() is None
    assert (await event(db, first_id)).attempts == 0  # an outage is not the event's failure


async def _rename(db: Database, table: str, to: str) -> None:
    async with db.unit_of_work() as session:
        await session.execute(text(f"ALTER TABLE {table} RENAME TO {to}"))


async def _has_table(db: Database, name: str) -> bool:
    async with db.engine.connect() as connection:
        return bool(await connection.run_sync(lambda c: inspect(c).has_table(name)))


async def _is_done(db: Database, event_id: str) -> bool:
    return (await event(db, event_id)).status == "done"


async def test_usage_counts_on_the_citys_own_calendar_day(db: Database, settings: Settings) -> None:
    city = await create_city(db)  # Asia/Shanghai, UTC+8
    late_evening_utc = dt.datetime(2024, 1, 1, 17, 30, tzinfo=dt.UTC)
    async with db.unit_of_work() as session:
        session.add(
            OutboxEvent(
                event_id="00000000-0000-4000-8000-000000000001",
                city_id=city.id,
                topic="test.nothing",
                payload={"channel_id": 7},
                created_at=late_evening_utc,
                available_at=utcnow(),
            )
        )
    dispatcher = Dispatcher(db, settings, registry=outbox.load_handlers())
    try:
        await dispatcher.drain()
    finally:
        await dispatcher.close()
    async with db.unit_of_work() as session:
        row = (await session.scalars(select(usage.UsageDaily))).one()
    assert (row.day, row.metric, row.channel_id, row.count) == (
        dt.date(2024, 1, 2),
        "test.nothing",
        7,
        1,
    )


async def test_metrics_report_the_outbox(db: Database, api: Api, hub_clock: Clock) -> None:
    city = await create_city(db)
    ids = await add_events(db, 3, topic="test.nothing", city_id=city.id)
    async with db.unit_of_work() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.event_id == ids[0])
            .values(status="dead", available_at=utcnow())
        )
    hub_clock.advance(seconds=90)  # the two pending events have waited that long
    body = await api.get("/metrics")
    values = {
        line.split()[0]: float(line.split()[1])
        for line in body.splitlines()
        if line.startswith("cityhub_outbox_") and " " in line
    }
    assert values["cityhub_outbox_pending"] == 2
    assert values["cityhub_outbox_dead"] == 1
    assert 90 <= values["cityhub_outbox_lag_seconds"] < 600
