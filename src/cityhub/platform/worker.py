"""`cityhub worker`: the outbox dispatcher, the recurring jobs and the worker's own /metrics.

The metrics are served on a port of their own (CITYHUB_WORKER_METRICS_PORT, by default the
hub's port + 200) from a thread, so a scrape never waits on the event loop; the outbox gauges
are refreshed from the database every `GAUGE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import signal
from contextlib import suppress

import structlog
from prometheus_client import start_http_server

from cityhub.outbox import Dispatcher, load_handlers
from cityhub.outbox import admin as outbox_admin
from cityhub.platform import events, metrics
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.logs import Mask, configure
from cityhub.platform.scheduler import Scheduler

log = structlog.get_logger("cityhub.worker")
GAUGE_SECONDS = 15.0


async def _gauges(db: Database, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async with db.unit_of_work() as session:
                await outbox_admin.refresh_metrics(session=session)
        except Exception as exc:  # the gauges wait for the database to come back
            log.warning("worker_gauges_failed", error=repr(exc))
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), GAUGE_SECONDS)


def serve_metrics(settings: Settings) -> None:
    """Serve the process's metrics on the worker's port (none when it is 0); a port taken
    already is logged as an error, and the worker goes on working without its /metrics."""
    port = settings.worker_metrics_listen_port
    if not port:
        return
    try:
        start_http_server(port, addr=settings.host, registry=metrics.REGISTRY)
    except OSError as exc:  # e.g. a second worker on the machine with the same settings
        log.error("worker_metrics_not_served", host=settings.host, port=port, error=str(exc))
        return
    log.info("worker_metrics_serving", host=settings.host, port=port)


async def run(db: Database, settings: Settings, *, once: bool, jobs: bool, mask: Mask) -> None:
    """Carry out outbox events and due jobs until SIGINT or SIGTERM (or once); `mask` hides
    personal numbers in the logs."""
    configure(level=settings.log_level, json=settings.log_json, mask=mask)
    registry, publisher = events.with_publisher(load_handlers(), settings)
    dispatcher = Dispatcher(db, settings, registry=registry)
    scheduler = Scheduler(db, settings) if jobs else None
    try:
        if once:
            await dispatcher.drain()
            if scheduler is not None:
                await scheduler.run_due()
                await dispatcher.drain()  # what the jobs queued
            return
        serve_metrics(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [dispatcher.run_forever(stop), _gauges(db, stop)]
        if scheduler is not None:
            tasks.append(scheduler.run_forever(stop))
        await asyncio.gather(*tasks)
    finally:
        await dispatcher.close()
        if publisher is not None:
            await publisher.close()
