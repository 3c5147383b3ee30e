"""Writing an event in the caller's transaction, and how long a failed one waits."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.outbox.models import OutboxEvent
from cityhub.platform import fastsql, sandbox
from cityhub.platform.db import utcnow

_EVENTS = fastsql.table(OutboxEvent)
_WRITTEN = ("event_id", "city_id", "topic", "payload", "created_at", "available_at")
# The rest of the row is its columns' defaults (`attempts` 0, `status` pending, no lock).
# One INSERT ... RETURNING compiled once (every payment and booking writes an event).
_INSERT = fastsql.Statement(
    insert(_EVENTS)
    .values({name: bindparam(name, type_=_EVENTS.c[name].type) for name in _WRITTEN})
    .returning(_EVENTS.c.id)
)


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
    values: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "city_id": city_id,
        "topic": topic,
        "payload": sandbox.stamped(payload),  # a sandbox event stays the sandbox's
        "created_at": now,
        "available_at": now + (delay or dt.timedelta()),
    }
    made = await _INSERT.first(session, values)
    assert made is not None
    # Written already (not through the session's unit of work): the row as it stands.
    return OutboxEvent(id=made["id"], attempts=0, status="pending", **values)


def backoff(attempt: int, *, base: float = 1.0, cap: float = 600.0) -> float:
    """Seconds before retry number `attempt`: exponential, capped, with full jitter."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 30))
    return random.uniform(min(base / 2, ceiling), ceiling)
