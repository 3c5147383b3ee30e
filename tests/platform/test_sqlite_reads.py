"""SQLite: a read-only request reads beside a writer instead of queueing for the write lock,
and a GET that writes after another writer committed is answered 503, never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cityhub.platform.db import Database
from cityhub.platform.deps import SessionDep
from tests.client import Api
from tests.identity.factories import create_channel
from tests.platform.deadline import bounded


@pytest.fixture
def sqlite_file(db_kind: str, db: Database) -> str:
    if db_kind != "sqlite":
        pytest.skip("the write lock of SQLite")
    path = make_url(db.url).database
    assert path
    return path


@pytest.fixture
def writer(sqlite_file: str) -> Iterator[sqlite3.Connection]:
    """Another process's connection to the same file (autocommit: it begins by itself)."""
    connection = sqlite3.connect(sqlite_file, isolation_level=None, timeout=30)
    yield connection
    connection.close()


async def test_a_read_does_not_wait_for_the_write_lock(
    api: Api, db: Database, writer: sqlite3.Connection
) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    writer.execute("BEGIN IMMEDIATE")  # a writer holds the lock (for up to 30 s of busy wait)
    writer.execute("UPDATE cache_versions SET version = version")
    try:
        with bounded(10, "a read beside a writer"):
            assert (await channel.get("/v1/channel"))["slug"] == login.channel.slug
    finally:
        writer.execute("ROLLBACK")


async def test_a_get_that_writes_after_another_commit_is_503(
    app: Any, api: Api, writer: sqlite3.Connection
) -> None:
    read, go_on = asyncio.Event(), asyncio.Event()

    @app.get("/v1/reads-then-writes")
    async def reads_then_writes(session: SessionDep) -> dict[str, int]:
        await session.execute(text("SELECT count(*) FROM cities"))  # the snapshot is taken
        read.set()
        await go_on.wait()
        await session.execute(text("UPDATE cache_versions SET version = version + 1"))
        return {"wrote": 1}

    call = asyncio.create_task(api.get("/v1/reads-then-writes", expect=503))
    await read.wait()
    writer.execute("UPDATE cache_versions SET version = version + 1")  # committed meanwhile
    go_on.set()
    body = await call
    assert body["code"] == "overloaded"
    assert api.last is not None and api.last.headers["Retry-After"] == "1"
