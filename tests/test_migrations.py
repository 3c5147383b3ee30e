"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from cityhub import migrations
from cityhub.app import create_app
from cityhub.models import metadata
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.helpers import postgres_admin, postgres_server_url
from tests.outbox_helpers import invoke


@pytest.fixture
async def empty(db_kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A database nobody has migrated yet."""
    if db_kind == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
        yield database
        await database.dispose()
        return
    server = postgres_server_url()
    name = f"cityhub_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await postgres_admin(server, f'CREATE DATABASE "{name}"')
    database = Database(make_url(server).set(database=name).render_as_string(False))
    try:
        yield database
    finally:
        await database.dispose()
        await postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def tables(db: Database) -> set[str]:
    """The tables the database has."""
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_the_models_and_the_migrations_agree(db: Database) -> None:
    assert await migrations.current(db) == migrations.head()
    assert await migrations.differences(db) == []
    assert await tables(db) == set(metadata.tables) | {"alembic_version"}


async def test_the_migrations_go_down_to_nothing_and_up_again(empty: Database) -> None:
    await migrations.upgrade(empty)
    await migrations.downgrade(empty, "base")
    assert await tables(empty) == {"alembic_version"}
    assert await migrations.current(empty) is None
    await migrations.upgrade(empty)
    assert await migrations.current(empty) == migrations.head()
    assert await migrations.differences(empty) == []


async def test_db_upgrade_then_db_current_from_the_command_line(empty: Database) -> None:
    code, output = await invoke(empty.url, "db", "current")
    assert (code, output.strip()) == (1, f"None (behind: code wants {migrations.head()})")
    code, output = await invoke(empty.url, "db", "upgrade")
    assert code == 0, output
    code, output = await invoke(empty.url, "db", "current")
    assert (code, output.strip()) == (0, f"{migrations.head()} (current)")
    assert await migrations.current(empty) == migrations.head()


async def test_readyz_answers_503_until_the_database_is_migrated(
    empty: Database, tmp_path: Path
) -> None:
    settings = Settings(
        env="test", data=tmp_path / "data", database_url=empty.url, embedded_worker=False
    )
    transport = httpx.ASGITransport(app=create_app(settings, db=empty))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        api = Api(client)
        problem = await api.get("/readyz", expect=503)
        assert problem["code"] == "not_ready"
        assert problem["checks"]["database"] == "ok"
        assert problem["checks"]["migrations"] == f"at None, code wants {migrations.head()}"
        await migrations.upgrade(empty)
        ready = await api.get("/readyz")
        assert ready["status"] == "ready"
        assert (ready["checks"]["database"], ready["checks"]["migrations"]) == ("ok", "ok")
