"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from cityhub import migrations
from cityhub.app import create_app
from cityhub.billing import ledger
from cityhub.models import metadata
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.conftest import _admin, postgres_server_url
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
    await _admin(server, f'CREATE DATABASE "{name}"')
    database = Database(make_url(server).set(database=name).render_as_string(False))
    try:
        yield database
    finally:
        await database.dispose()
        await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


async def test_0021_keeps_the_balances_of_a_ledger_with_entries(empty: Database) -> None:
    """A ledger written before the roll-up (balances moved with every posting) reads the same
    balances after the upgrade, checks clean, and has nothing to roll up."""
    await migrations.upgrade(empty, "0019")
    async with empty.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO cities (id, slug, name_zh_hans, name_zh_hant, name_en, timezone,"
                " currency, status, created_at) VALUES (1, 'old', 'o', 'o', 'Old',"
                " 'Asia/Shanghai', 'CNY', 'active', CURRENT_TIMESTAMP)"
            ),
        )
        for id_, code, kind, balance in (
            (1, "channel:1:receivable", "asset", 300),
            (2, "biller:1:pending", "liability", -300),
        ):
            await conn.execute(
                text(
                    "INSERT INTO ledger_accounts (id, city_id, code, kind, currency, balance_fen,"
                    " created_at) VALUES (:id, 1, :code, :kind, 'CNY', :balance, CURRENT_TIMESTAMP)"
                ),
                {"id": id_, "code": code, "kind": kind, "balance": balance},
            )
        for posting in (1, 2):
            await conn.execute(
                text(
                    "INSERT INTO ledger_postings (id, city_id, kind, memo, created_at)"
                    " VALUES (:id, 1, 'payment.confirmed', '', CURRENT_TIMESTAMP)"
                ),
                {"id": posting},
            )
            for account, fen in ((1, 100 * posting), (2, -100 * posting)):
                await conn.execute(
                    text(
                        "INSERT INTO ledger_entries (city_id, posting_id, account_id, amount_fen,"
                        " currency, created_at) VALUES (1, :posting, :account, :fen, 'CNY',"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {"posting": posting, "account": account, "fen": fen},
                )
    await migrations.upgrade(empty)
    async with empty.unit_of_work() as session:
        report = await ledger.check(session=session)
        assert report.ok and report.entries == 4, report.problems()
        read = {b.code: b.balance_fen for b in await ledger.balances(session=session, city_id=1)}
        assert read == {"channel:1:receivable": 300, "biller:1:pending": -300}
        assert await ledger.roll_up(session=session) == 0
    await migrations.downgrade(empty, "0019")
    await migrations.upgrade(empty)
