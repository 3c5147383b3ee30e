"""The dispatcher: claims due events with a lease and runs each handler once."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import uuid
from collections.abc import Sequence
from contextlib import suppress

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cityhub.outbox.handling import Handler, HandlerContext, Registry, registry
from cityhub.outbox.models import OutboxEvent, OutboxHandled
from cityhub.outbox.service import backoff
from cityhub.platform import business_metrics, metrics, sandbox
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from cityhub.platform.outbound import OutboundPolicy, pinned_client

log = structlog.get_logger("cityhub.outbox")


class _AlreadyDone(Exception):
    """Raised inside a handler's transaction to roll it back: someone else recorded it."""


class Dispatcher:
    """Claims due events and runs their handlers; many may run at once against one database."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        registry: Registry = registry,
        lease_seconds: float | None = None,
        batch: int | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.lease = dt.timedelta(seconds=lease_seconds or settings.outbox_lease_seconds)
        self.batch = batch or settings.outbox_batch_size
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
        self.outbound = pinned_client(
            OutboundPolicy.from_settings(settings), timeout=settings.webhook_timeout_seconds
        )
        self.failed_rounds = 0  # rounds lost to an error of the database, since the start

    async def close(self) -> None:
        """Release the HTTP clients."""
        await self.http.aclose()
        await self.outbound.aclose()

    async def claim(self) -> list[OutboxEvent]:
        """Take a lease on up to `batch` due events that nobody else holds."""
        now = utcnow()
        async with self.db.unit_of_work() as session:
            query = (
                select(OutboxEvent.id)
                .where(OutboxEvent.status == "pending", OutboxEvent.available_at <= now)
                .where((OutboxEvent.locked_until.is_(None)) | (OutboxEvent.locked_until < now))
                .order_by(OutboxEvent.id)
                .limit(self.batch)
            )
            if not self.db.is_sqlite:
                # SQLite needs no row locks: BEGIN IMMEDIATE already serialises writers.
                query = query.with_for_update(skip_locked=True)
            ids = (await session.scalars(query)).all()
            if not ids:
                return []
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids))
                .values(locked_by=self.worker_id, locked_until=now + self.lease)
            )
            return list(
                (await session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(ids)))).all()
            )

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Carry out one batch of due events; returns how many were taken."""
        events = await self.claim()
        for index, event in enumerate(events):
            if stop is not None and stop.is_set():
                await self._release(events[index:])  # others need not wait out our lease
                break
            if await self._hold(event):
                await self._process(event)
        return len(events)

    async def drain(self, *, max_rounds: int = 1000) -> None:
        """Carry out events until none is due (for the CLI and tests)."""
        for _ in range(max_rounds):
            if not await self.run_once():
                return

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Poll for due events until `stop` is set."""
        log.info("outbox_dispatcher_started", worker=self.worker_id)
        poll = self.settings.outbox_poll_seconds
        failures = 0
        while not stop.is_set():
            try:
                taken = await self.run_once(stop)
                failures = 0
            except Exception as exc:  # a database hiccup must not end the loop
                failures += 1
                self.failed_rounds += 1
                metrics.OUTBOX_ROUNDS_FAILED.inc()
                if failures == 1:  # one traceback per outage, not one per round
                    log.exception("outbox_round_failed", worker=self.worker_id)
                else:
                    log.warning(
                        "outbox_round_failed",
                        worker=self.worker_id,
                        failures=failures,
                        error=repr(exc),
                    )
                taken = 0
            if not taken:
                # Back off while the database is away, without letting a blip cost minutes.
                wait = min(poll * 2 ** min(failures, 10), max(poll, 10.0))
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
        log.info("outbox_dispatcher_stopped", worker=self.worker_id)

    async def _hold(self, event: OutboxEvent) -> bool:
        """Whether the event's lease is still ours, renewing it once half of it has gone."""
        now = utcnow()
        if event.locked_until is not None and now < event.locked_until - self.lease / 2:
            return True
        until = now + self.lease
        async with self.db.unit_of_work() as session:
            # Still ours only if nobody claimed it since: a claim changes `locked_by`.
            renewed = await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.id == event.id,
                    OutboxEvent.status == "pending",
                    OutboxEvent.locked_by == self.worker_id,
                )
                .values(locked_until=until)
            )
        if renewed.rowcount != 1:  # type: ignore[attr-defined]
            log.info("outbox_lease_lost", event_id=event.event_id, worker=self.worker_id)
            return False
        event.locked_until = until
        return True

    async def _release(self, events: Sequence[OutboxEvent]) -> None:
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.id.in_([e.id for e in events]),
                    OutboxEvent.status == "pending",
                    OutboxEvent.locked_by == self.worker_id,
                )
                .values(locked_by=None, locked_until=None)
            )

    async def _process(self, event: OutboxEvent) -> None:
        try:
            handlers = self.registry.for_topic(event.topic)
            finished = await self._finished(event) if handlers else set()
            for name, handler in handlers:
                if name not in finished:
                    await self._run_handler(event, name, handler)
        except Exception as exc:  # every failure is retried, then dead-lettered
            await self._failed(event, exc)
            return
        async with self.db.unit_of_work() as session:
            # Every handler is recorded, so the event is done whoever holds it now.
            await session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id == event.id, OutboxEvent.status == "pending")
                .values(status="done", done_at=utcnow(), locked_by=None, locked_until=None)
            )
        metrics.OUTBOX_EVENTS.labels(event.topic, "done").inc()
        if sandbox.of_payload(event.payload) == sandbox.TEST:
            return  # the sandbox's work is no part of the city's figures
        try:
            await business_metrics.observe(self.db, event.topic, event.payload)
        except Exception:  # a figure must never fail the work it counts
            log.warning("business_metrics_failed", event_id=event.event_id, exc_info=True)

    async def _finished(self, event: OutboxEvent) -> set[str]:
        """The handlers an earlier run already finished for this event."""
        async with self.db.unit_of_work() as session:
            names = await session.scalars(
                select(OutboxHandled.handler).where(OutboxHandled.event_id == event.event_id)
            )
            return set(names)

    async def _run_handler(self, event: OutboxEvent, name: str, handler: Handler) -> None:
        try:
            # The handler runs in the mode the event was written in: a sandbox event's
            # connectors are the sandbox's, and what it writes to the outbox stays the sandbox's.
            with sandbox.using(sandbox.of_payload(event.payload)):
                await self._handle(event, name, handler)
        except _AlreadyDone:
            # Another worker finished this handler first (our lease had run out): ours rolled back.
            log.info("outbox_handler_already_done", event_id=event.event_id, handler=name)
            return
        metrics.OUTBOX_HANDLED.labels(name).inc()

    async def _handle(self, event: OutboxEvent, name: str, handler: Handler) -> None:
        async with self.db.unit_of_work() as session:
            ctx = HandlerContext(
                session=session,
                db=self.db,
                settings=self.settings,
                http=self.http,
                outbound=self.outbound,
            )
            await handler(ctx, event)
            await session.flush()  # the handler's own conflicts are failures, retried
            try:
                session.add(OutboxHandled(event_id=event.event_id, handler=name))
                await session.flush()
            except IntegrityError:
                raise _AlreadyDone from None

    async def _failed(self, event: OutboxEvent, exc: Exception) -> None:
        attempts = event.attempts + 1
        dead = attempts >= self.settings.outbox_max_attempts
        log.warning(
            "outbox_event_failed",
            event_id=event.event_id,
            topic=event.topic,
            attempts=attempts,
            dead=dead,
            error=str(exc),
        )
        async with self.db.unit_of_work() as session:
            # Only the lease holder counts the attempt: a worker whose lease ran out does not.
            await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.id == event.id,
                    OutboxEvent.status == "pending",
                    OutboxEvent.locked_by == self.worker_id,
                )
                .values(
                    attempts=attempts,
                    status="dead" if dead else "pending",
                    available_at=utcnow() + dt.timedelta(seconds=backoff(attempts)),
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    locked_by=None,
                    locked_until=None,
                )
            )
        metrics.OUTBOX_EVENTS.labels(event.topic, "dead" if dead else "retry").inc()
