"""The transactional outbox and its dispatcher.

A change that must be announced writes an `OutboxEvent` in its own transaction (`enqueue`). The
dispatcher claims due events with a lease, runs every handler registered for the topic, and
records each (event, handler) it finished in `outbox_handled` in the same transaction as the
handler's own writes. A process that dies mid-way loses nothing: its lease runs out, another
claims the event, and handlers already recorded are skipped, so each runs to completion once.
Handlers that reach outside (webhooks, providers) are at-least-once and pass the event id on
as the idempotency key.

The lease must outlast the slowest handler run (a webhook's timeout): a dispatcher renews it
for each event once half of it has gone, and never runs an event whose lease another took.
"""

from __future__ import annotations

from cityhub.outbox.dispatcher import Dispatcher
from cityhub.outbox.handling import (
    HANDLER_MODULES,
    Handler,
    HandlerContext,
    Registry,
    load_handlers,
    registry,
)
from cityhub.outbox.models import OutboxEvent, OutboxHandled
from cityhub.outbox.service import backoff, enqueue

__all__ = [
    "HANDLER_MODULES",
    "Dispatcher",
    "Handler",
    "HandlerContext",
    "OutboxEvent",
    "OutboxHandled",
    "Registry",
    "backoff",
    "enqueue",
    "load_handlers",
    "registry",
]
