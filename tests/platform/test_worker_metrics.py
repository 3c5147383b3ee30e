"""`cityhub worker` serves /metrics on its own port: the process, the outbox, the jobs it ran
(here, every job of a city at its first start); and the business counters of payments."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import update

from cityhub.outbox import Dispatcher, OutboxEvent, Registry
from cityhub.platform import business_metrics, metrics
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.identity.factories import create_channel
from tests.outbox_helpers import Hub, add_events, eventually, free_port


async def test_the_worker_serves_process_outbox_and_job_metrics_on_its_own_port(
    db: Database, tmp_path: Path
) -> None:
    await create_city(db, slug="metro")
    port = free_port()
    hub = Hub(db.url, tmp_path, CITYHUB_WORKER_METRICS_PORT=str(port))
    hub.start("worker")

    async def scraped() -> str | None:
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.HTTPError:
            return None
        wanted = ("settle", "purge-idempotency-keys")
        done = all(f'cityhub_jobs_total{{job="{j}",outcome="done"}} 1.0' in text for j in wanted)
        return text if done else None

    try:
        text = await eventually(scraped, timeout=120, what=hub.output)
    finally:
        hub.stop()
    assert "process_resident_memory_bytes" in text and "python_info" in text
    assert "cityhub_outbox_pending" in text
    assert 'cityhub_jobs_total{job="purge-idempotency-keys",outcome="done"} 1.0' in text
    assert 'cityhub_job_seconds_count{job="settle"}' in text


async def test_payments_are_counted_by_status_channel_and_service_as_announced(
    db: Database, settings: Settings
) -> None:
    city = await create_city(db, slug="countville")
    login = await create_channel(db, slug="counter")
    labels = {"city": "countville", "channel": "counter", "service": "water", "status": "completed"}
    before = metrics.REGISTRY.get_sample_value("cityhub_payments_total", labels) or 0.0
    payment = {"city": "countville", "service": "water", "status": "completed"}
    await add_events(db, 2, topic="payment.completed", city_id=city.id, channel_id=login.channel.id)
    async with db.unit_of_work() as session:
        await session.execute(
            update(OutboxEvent).values(payload={"channel_id": login.channel.id, "payment": payment})
        )
    business_metrics._channels.clear()  # ids of other tests' databases were seen before
    dispatcher = Dispatcher(db, settings, registry=Registry())
    await dispatcher.drain()
    await dispatcher.close()
    after = metrics.REGISTRY.get_sample_value("cityhub_payments_total", labels)
    assert after == before + 2
