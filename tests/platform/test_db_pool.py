"""The connection pool: no ping before every checkout, a dropped connection retried once, and
a pool with no connection free in time answered 503 with Retry-After (never 500 or 401)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import event, func, select, text

from cityhub.app import create_app
from cityhub.platform import db as db_module
from cityhub.platform import fastsql
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import create_channel

_PID = fastsql.Statement(select(func.pg_backend_pid().label("pid")))
_ALIVE = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")


@pytest.fixture
async def tight(db: Database) -> AsyncIterator[Database]:
    """The test's database through a pool of one connection that waits 0.2 s for it."""
    database = Database(db.url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    yield database
    await database.dispose()


async def test_no_free_connection_is_503_with_retry_after(
    settings: Settings, db: Database, tight: Database
) -> None:
    login = await create_channel(db)
    app = create_app(settings, db=tight)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        channel = await Api(client).as_channel(login.client_id, login.secret)
        async with tight.engine.connect() as held:  # the one connection, busy elsewhere
            await held.execute(text("SELECT 1"))
            body = await channel.get("/v1/channel", expect=503)
            assert body["code"] == "overloaded"
            assert channel.last is not None and channel.last.headers["Retry-After"] == "1"
        # The connection is back: the same call is answered.
        assert (await channel.get("/v1/channel"))["slug"] == login.channel.slug


async def test_dropped_connection_is_retried_on_a_fresh_one(db_kind: str, tight: Database) -> None:
    if db_kind != "postgres":
        pytest.skip("a server-side connection to drop: PostgreSQL")
    async with tight.unit_of_work() as session:
        first = await session.scalar(text("SELECT pg_backend_pid()"))
    # The pooled connection is cut (a restart, a firewall's idle timeout) while it is idle.
    other = Database(tight.url)
    try:
        async with other.unit_of_work() as admin:
            assert await admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    finally:
        await other.dispose()
    async with tight.unit_of_work() as session:
        second = await session.scalar(text("SELECT pg_backend_pid()"))
    assert second is not None and second != first


async def test_a_connection_closed_while_idle_is_replaced_at_checkout(
    db_kind: str, tight: Database
) -> None:
    """A request whose first statement runs on the driver (`platform/fastsql.py`, after the
    caches attached their rows without SQL) gets a live connection, not the dropped one."""
    checks = event.contains(tight.engine.sync_engine, "checkout", db_module._closed_is_gone)
    if db_kind != "postgres":  # an embedded file: no server to close a connection
        assert not checks
        return
    assert checks
    async with tight.unit_of_work() as session:
        first = await session.scalar(text("SELECT pg_backend_pid()"))
    other = Database(tight.url)
    try:
        async with other.unit_of_work() as admin:
            assert await admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        for _ in range(1000):  # until the backend is gone (its socket closed)
            async with other.unit_of_work() as admin:
                gone = not await admin.scalar(_ALIVE, {"pid": first})
            if gone:
                break
        assert gone
    finally:
        await other.dispose()
    for _ in range(10):  # the driver reads the closed socket as the loop turns
        await asyncio.sleep(0)
    async with tight.unit_of_work() as session:
        await session.connection()  # the transaction begins: nothing sent yet
        [row] = await _PID.rows(session, {})
    assert row["pid"] != first
