"""Writing an event in the caller's transaction, and how long a failed one waits."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.outbox.models import OutboxEvent
from cityhub.platform.db import utcnow


async def enqueue(
    *,
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    city_id: int | None = None,
    delay: dt.timedelta | None = None,
) -> OutboxEvent:
    """Record an event in the caller's transaction; it is carried out once that commits."""
    now = utcnow()
    event = OutboxEvent(
        event_id=str(uuid.uuid4()),
        city_id=city_id,
        topic=topic,
        payload=payload,
        created_at=now,
        available_at=now + (delay or dt.timedelta()),
    )
    session.add(event)
    await session.flush()
    return event


def backoff(attempt: int, *, base: float = 1.0, cap: float = 600.0) -> float:
    """Seconds before retry number `attempt`: exponential, capped, with full jitter."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    return random.uniform(min(base / 2, ceiling), ceiling)
