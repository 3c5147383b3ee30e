"""Looking after the outbox: its numbers for operators and `/metrics`, dead events, pruning."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.outbox import OutboxEvent, OutboxHandled
from cityhub.platform import metrics
from cityhub.platform.db import utcnow


@dataclass
class OutboxStats:
    """Pending and dead events, and how long the oldest due one has waited (the lag)."""

    counts: dict[str, int]
    lag_seconds: float


async def stats(*, session: AsyncSession) -> OutboxStats:
    """The outbox at a glance, for `cityhub outbox status` and `/metrics`."""
    now = utcnow()
    rows = await session.execute(  # not `done`: those pile up, and the index serves the rest
        select(OutboxEvent.status, func.count())
        .where(OutboxEvent.status.in_(("pending", "dead")))
        .group_by(OutboxEvent.status)
    )
    counts = {"pending": 0, "dead": 0} | {s: int(n) for s, n in rows.all()}
    oldest = await session.scalar(
        select(func.min(OutboxEvent.available_at)).where(
            OutboxEvent.status == "pending", OutboxEvent.available_at <= now
        )
    )
    return OutboxStats(counts, max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


async def due_count(*, session: AsyncSession) -> int:
    """How many pending events are due now (being carried out, or waiting for a worker)."""
    found = await session.scalar(
        select(func.count())
        .select_from(OutboxEvent)
        .where(OutboxEvent.status == "pending", OutboxEvent.available_at <= utcnow())
    )
    return int(found or 0)


async def refresh_metrics(*, session: AsyncSession) -> None:
    """Set the outbox gauges from the database (every process sees the same numbers)."""
    current = await stats(session=session)
    metrics.OUTBOX_PENDING.set(current.counts["pending"])
    metrics.OUTBOX_DEAD.set(current.counts["dead"])
    metrics.OUTBOX_LAG.set(current.lag_seconds)


async def requeue(*, session: AsyncSession, event_ids: Sequence[str] | None = None) -> int:
    """Give dead events (all, or the named ones) a fresh round of attempts; how many."""
    query = update(OutboxEvent).where(OutboxEvent.status == "dead")
    if event_ids is not None:
        query = query.where(OutboxEvent.event_id.in_(event_ids))
    result = await session.execute(
        query.values(
            status="pending", attempts=0, available_at=utcnow(), locked_by=None, locked_until=None
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune(*, session: AsyncSession, before: dt.datetime, limit: int = 10_000) -> int:
    """Delete up to `limit` events done before `before`, with their handler records; how many."""
    done = (
        await session.execute(
            select(OutboxEvent.id, OutboxEvent.event_id)
            .where(OutboxEvent.status == "done", OutboxEvent.done_at < before)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
    ).all()
    if not done:
        return 0
    await session.execute(
        delete(OutboxHandled).where(OutboxHandled.event_id.in_([e for _, e in done]))
    )
    await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_([i for i, _ in done])))
    return len(done)
