"""The caches' listener: one connection per `cityhub serve` process on PostgreSQL that hears
each new version of the cached tables as it commits, so that requests need not read the
counter themselves (`platform/cache.py`).

It LISTENs on the channel the version trigger NOTIFYs (migration 0040), then reads the
counter every `POLL_SECONDS` on the same connection: the read is what vouches for the version
(a notification can only be lost with the connection, and a connection that is gone or stuck
stops the reads). While the reads go on, sessions take the listener's version; when they stop
for longer than `cache.FRESH_FOR`, sessions read the counter again, and the listener
reconnects.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

import asyncpg
import structlog

from cityhub.platform.cache import Caches
from cityhub.platform.db import Database

CHANNEL = "cityhub_cache_versions"
POLL_SECONDS = 0.25
RETRY_SECONDS = 1.0
_READ = "SELECT version FROM cache_versions WHERE name = 'access'"
log = structlog.get_logger("cityhub.platform.cache")


class Listener:
    """Keeps one process's caches told of every change to the cached tables."""

    def __init__(self, db: Database) -> None:
        assert db.caches is not None and not db.is_sqlite
        self.db = db
        self.caches: Caches = db.caches
        self.listening = asyncio.Event()  # set once it has listened and read the counter

    async def _connect(self) -> Any:
        """A connection of its own (not the pool's: it is held for the process's life)."""
        engine = self.db.engine
        _args, params = engine.dialect.create_connect_args(engine.url)
        return await asyncpg.connect(**params)

    def _announced(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        with suppress(ValueError):
            self.caches.heard(int(payload), read=False)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set, reconnecting after a lost connection."""
        while not stop.is_set():
            try:
                await self._listen(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("cache listener lost its connection", error=type(exc).__name__)
            finally:
                self.caches.stop_vouching()
                self.listening.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def _listen(self, stop: asyncio.Event) -> None:
        connection = await asyncio.wait_for(self._connect(), 10)
        try:
            await connection.add_listener(CHANNEL, self._announced)
            while not stop.is_set():
                # Read after listening: nothing committed since can go unheard.
                version = await asyncio.wait_for(connection.fetchval(_READ), POLL_SECONDS * 4)
                self.caches.heard(int(version or 0), read=True)
                self.listening.set()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
        finally:
            with suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)


def listener_for(db: Database, *, enabled: bool) -> Listener | None:
    """The listener a serving process runs for its database, if it may have one (PostgreSQL,
    caches on, not switched off)."""
    if not enabled or db.caches is None or db.is_sqlite:
        return None
    return Listener(db)
