"""Who handles an event: the registry of handlers by topic, and what a handler is given."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.outbox.models import OutboxEvent
from cityhub.platform.config import Settings
from cityhub.platform.db import Database

HANDLER_MODULES = (
    "cityhub.webhooks",
    "cityhub.webhooks.api",
    "cityhub.outbox.usage",
    "cityhub.billing.handlers",
    "cityhub.notices.handlers",
    "cityhub.appointments.handlers",
    "cityhub.autodebit.handlers",
)


@dataclass
class HandlerContext:
    """What a handler gets: its own transaction, and the outside world.

    `session` commits together with the record that the handler finished, so its writes happen
    exactly once. It begins on first use, and on SQLite that takes the database's write lock:
    a handler that calls outside does so before it touches `session` (or reads through a short
    `db.unit_of_work()` of its own).
    """

    session: AsyncSession
    db: Database
    settings: Settings
    http: httpx.AsyncClient  # the operator's own endpoints (SMS gateway, simulator)
    outbound: httpx.AsyncClient  # addresses others wrote (webhooks, connectors): SSRF-pinned


Handler = Callable[[HandlerContext, OutboxEvent], Awaitable[None]]


@dataclass
class Registry:
    """Handlers by topic; the topic `*` receives every event."""

    handlers: dict[str, list[tuple[str, Handler]]] = field(default_factory=dict)

    def on(self, topic: str, name: str) -> Callable[[Handler], Handler]:
        """Decorator: run the function for every event of the topic, under a stable name."""

        def register(fn: Handler) -> Handler:
            entries = self.handlers.setdefault(topic, [])
            if all(existing != name for existing, _ in entries):
                entries.append((name, fn))
            return fn

        return register

    def for_topic(self, topic: str) -> list[tuple[str, Handler]]:
        """The handlers an event of the topic goes to (`prefix.*` keys match by prefix)."""
        found = self.handlers.get(topic, []) + self.handlers.get("*", [])
        for key, entries in self.handlers.items():
            if key.endswith(".*") and topic.startswith(key[:-1]):
                found += entries
        return list({name: (name, fn) for name, fn in reversed(found)}.values())[::-1]

    def copy(self) -> Registry:
        """A registry with the same handlers, to add some for one dispatcher only."""
        return Registry({topic: list(entries) for topic, entries in self.handlers.items()})


registry = Registry()


def load_handlers() -> Registry:
    """Import the modules that register handlers, and return the registry."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    return registry
