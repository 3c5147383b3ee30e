"""Outbox events on NATS JetStream (the server of this machine, 127.0.0.1:4222): each event
once at a durable consumer, although the publisher died after the broker took an event and
before the outbox recorded it; nothing is published unless NATS is configured."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from sqlalchemy import func, select

from cityhub.outbox import Dispatcher, OutboxEvent, Registry, load_handlers
from cityhub.platform import events
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.helpers import move_past
from tests.outbox_helpers import add_events, handled, statuses

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
def nats_settings(settings: Settings) -> Settings:
    """Settings publishing to a stream and subjects of this test's own."""
    name = f"t{uuid.uuid4().hex[:10]}"
    return settings.model_copy(
        update={
            "nats_url": NATS_URL,
            "nats_stream": f"CITYHUB_{name.upper()}",
            "nats_subject_prefix": name,
            "nats_topics": "payment.*,lottery.drawn",
        }
    )


@pytest.fixture
async def stream(nats_settings: Settings) -> AsyncIterator[str]:
    """The test's stream name; deleted afterwards."""
    yield nats_settings.nats_stream
    client = await nats.connect(NATS_URL)
    try:
        await client.jetstream().delete_stream(nats_settings.nats_stream)
    except nats.js.errors.NotFoundError:
        pass
    await client.close()


class DiesAfterPublishing(events.Publisher):
    """A publisher whose task dies right after the broker acknowledged its n-th event, before
    the outbox can record the handler as done (as a killed process would)."""

    def __init__(self, settings: Settings, die_after: int) -> None:
        super().__init__(settings)
        self.die_after = die_after
        self.died_on: str | None = None

    async def after_publish(self, event: OutboxEvent, ack: Any) -> None:
        if self.published == self.die_after:
            self.died_on = event.event_id
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)  # the cancellation lands here, inside the handler


async def consume(settings: Settings, durable: str) -> list[dict[str, Any]]:
    """Everything the stream holds for the prefix, read by a durable pull consumer."""
    client = await nats.connect(NATS_URL)
    try:
        js = client.jetstream()
        sub = await js.pull_subscribe(
            f"{settings.nats_subject_prefix}.>", durable=durable, stream=settings.nats_stream
        )
        seen: list[dict[str, Any]] = []
        # The consumer says how many messages are left for it: fetch exactly those.
        while (left := (await sub.consumer_info()).num_pending) > 0:
            for message in await sub.fetch(batch=min(left, 50), timeout=10):
                seen.append({"subject": message.subject, **json.loads(message.data)})
                await message.ack()
        return seen
    finally:
        await client.close()


async def test_each_event_is_consumed_once_across_a_publisher_crash(
    db: Database, nats_settings: Settings, stream: str, hub_clock: Clock
) -> None:
    city = await create_city(db, slug="nats-city")
    ids = await add_events(db, 12, topic="payment.completed", city_id=city.id, amount=1)
    skipped = await add_events(db, 3, topic="grant.created", city_id=city.id, channel_id=1)

    dying = DiesAfterPublishing(nats_settings, die_after=5)
    # Only the publisher: the hub's own handlers of payments need real payments.
    registry, _ = events.with_publisher(Registry(), nats_settings, dying)
    first = Dispatcher(db, nats_settings, registry=registry, lease_seconds=60)
    task = asyncio.create_task(first.drain())
    with pytest.raises(asyncio.CancelledError):
        await task
    await dying.close()
    await first.close()
    assert dying.died_on is not None and dying.published == 5
    done = await handled(db)
    assert (dying.died_on, events.HANDLER) not in done  # taken by the broker, not recorded

    # The dead dispatcher's leases run out; another worker takes the events over.
    async with db.unit_of_work() as session:
        lease = await session.scalar(select(func.max(OutboxEvent.locked_until)))
    assert lease is not None
    move_past(hub_clock, lease)
    second_publisher = events.Publisher(nats_settings)
    registry, _ = events.with_publisher(Registry(), nats_settings, second_publisher)
    second = Dispatcher(db, nats_settings, registry=registry)
    await second.drain()
    await second_publisher.close()
    await second.close()
    assert second_publisher.duplicates == 1  # the one the dead publisher had sent already
    assert (await statuses(db)).get("pending", 0) == 0

    seen = await consume(nats_settings, durable="warehouse")
    assert Counter(m["event_id"] for m in seen) == Counter(ids)  # each once, none of `skipped`
    assert not set(skipped) & {m["event_id"] for m in seen}
    prefix = nats_settings.nats_subject_prefix
    assert {m["subject"] for m in seen} == {f"{prefix}.nats-city.payment.completed"}
    assert {m["city"] for m in seen} == {"nats-city"} and seen[0]["payload"] == {"amount": 1}
    # The durable consumer remembers where it was: nothing comes again.
    assert await consume(nats_settings, durable="warehouse") == []


async def test_nothing_is_published_unless_nats_is_configured(settings: Settings) -> None:
    base = load_handlers()
    registry, publisher = events.with_publisher(base, settings)
    assert publisher is None and registry is base
    assert events.HANDLER not in {name for name, _ in registry.for_topic("payment.completed")}
