"""Outbox events published to NATS JetStream for consumers outside the hub (a city's data
warehouse, a channel's stream): off unless `CITYHUB_NATS_URL` is set.

The publisher is one more outbox handler (`events.nats`) on the topics `CITYHUB_NATS_TOPICS`
selects. Each event goes to `<prefix>.<city slug or hub>.<topic>` with the event id as
`Nats-Msg-Id`: a publisher that dies after the broker stored an event but before the outbox
recorded it as handled publishes it again, and JetStream drops the duplicate (within the
stream's duplicate window, which the hub sets to `DUPLICATE_WINDOW` when it creates the
stream). The outbox stays the source of truth; consumers see each event once. City slugs come
from the function the cities domain names (`name_cities`): the platform reads no domain's
tables.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from cityhub.outbox import HandlerContext, OutboxEvent, Registry
from cityhub.platform.config import Settings

log = structlog.get_logger("cityhub.events")
HANDLER = "events.nats"
DUPLICATE_WINDOW = 15 * 60.0  # seconds: above a lease and a few retries
CitySlug = Callable[..., Awaitable[str | None]]  # (*, session, city_id) -> slug or None
_city_slug: list[CitySlug] = []


def name_cities(slug_of: CitySlug) -> None:
    """Name the function that gives a city's slug (the cities domain's service)."""
    _city_slug[:] = [slug_of]


def topics_of(settings: Settings) -> list[str]:
    """The configured topic patterns (`payment.*`, `lottery.drawn`, `*`)."""
    return [t.strip() for t in settings.nats_topics.split(",") if t.strip()]


@dataclass
class Publisher:
    """One connection to NATS per dispatcher, opened on first use; the city slugs it has seen."""

    settings: Settings
    client: NatsClient | None = None
    js: JetStreamContext | None = None
    slugs: dict[int, str] = field(default_factory=dict)
    published: int = 0
    duplicates: int = 0

    async def jetstream(self) -> JetStreamContext:
        """The JetStream context, connecting and making sure the stream exists."""
        if self.js is None:
            assert self.settings.nats_url
            self.client = await nats.connect(
                self.settings.nats_url, connect_timeout=self.settings.nats_timeout_seconds
            )
            self.js = self.client.jetstream(timeout=self.settings.nats_timeout_seconds)
            await self._ensure_stream(self.js)
        return self.js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        name, prefix = self.settings.nats_stream, self.settings.nats_subject_prefix
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(
                name=name, subjects=[f"{prefix}.>"], duplicate_window=DUPLICATE_WINDOW
            )
            log.info("nats_stream_created", stream=name, subjects=f"{prefix}.>")

    async def scope(self, ctx: HandlerContext, event: OutboxEvent) -> str:
        """The subject's scope: the city's slug (read in a short transaction of its own, so
        none is open while the broker answers), or `hub`."""
        if event.city_id is None:
            return "hub"
        if event.city_id not in self.slugs:
            if not _city_slug:
                raise RuntimeError("no function names the cities: cityhub.cities.service does")
            async with ctx.db.unit_of_work() as session:
                slug = await _city_slug[0](session=session, city_id=event.city_id)
            self.slugs[event.city_id] = slug or str(event.city_id)
        return self.slugs[event.city_id]

    async def publish(self, ctx: HandlerContext, event: OutboxEvent) -> None:
        """Publish the event once (the broker drops a repeat of its id)."""
        scope = await self.scope(ctx, event)
        body = {
            "event_id": event.event_id,
            "topic": event.topic,
            "city": scope if event.city_id is not None else None,
            "created_at": event.created_at.isoformat(),
            "payload": event.payload,
        }
        subject = f"{self.settings.nats_subject_prefix}.{scope}.{event.topic}"
        js = await self.jetstream()
        ack = await js.publish(
            subject,
            json.dumps(body, ensure_ascii=False, default=str).encode(),
            headers={"Nats-Msg-Id": event.event_id},
        )
        self.published += 1
        self.duplicates += bool(ack.duplicate)
        await self.after_publish(event, ack)

    async def after_publish(self, event: OutboxEvent, ack: Any) -> None:
        """Called once the broker acknowledged the event (a seam for tests)."""

    async def close(self) -> None:
        """Drain and close the connection, if one was opened."""
        if self.client is not None and not self.client.is_closed:
            await self.client.drain()
        self.client, self.js = None, None


def with_publisher(
    registry: Registry, settings: Settings, publisher: Publisher | None = None
) -> tuple[Registry, Publisher | None]:
    """The registry with the NATS handler added on the configured topics (a copy), and its
    publisher; the registry as it is, and None, when NATS is not configured."""
    if not settings.nats_url:
        return registry, None
    publisher = publisher or Publisher(settings)
    found = registry.copy()
    for topic in topics_of(settings):
        found.on(topic, HANDLER)(publisher.publish)
    return found, publisher
