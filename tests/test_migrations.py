"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import column, func, insert, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from cityhub import migrations
from cityhub.app import create_app
from cityhub.billing import ledger
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


# Every table whose change must reach other processes' caches (migrations 0022 and 0031).
CACHE_VERSIONED = ("cities", "channels", "grants", "services")


async def test_every_cached_table_keeps_its_cache_version_trigger(db: Database) -> None:
    """A later migration that rebuilds a table (SQLite's batch mode copies it) drops its
    triggers with it; then another process never learns its cache went stale."""
    if db.engine.dialect.name == "sqlite":
        found = text("SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'")
    else:
        found = text(
            "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal"
        )
    async with db.engine.connect() as connection:
        triggered = set((await connection.scalars(found)).all())
    assert set(CACHE_VERSIONED) - triggered == set()


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


def _rows() -> list[tuple[str, list[dict[str, Any]]]]:
    """Two cities' linked rows, each kind of tenant key among them: a service with a bill, a
    payment and its refund and postings, and a department that goes with its service (ON
    DELETE CASCADE, which must not fire while SQLite rebuilds the tables)."""
    now = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    names = {"name_zh_hans": "n", "name_zh_hant": "n", "name_en": "n"}
    return [
        ("cities", [
            {"id": c, "slug": f"c{c}", "timezone": "Asia/Shanghai", "currency": "CNY",
             "status": "active", **names}
            for c in (1, 2)
        ]),
        ("channels", [
            {"id": 1, "slug": "ch", "name": "ch", "client_id": "ch", "client_secret_hash": "x",
             "scopes": "payments:write", "status": "active"}
        ]),
        ("services", [
            {"id": 10 + c, "city_id": c, "code": "water", "category_code": "payments",
             "kind": "bill", "provider": "p", "connector": "simulated", "status": "active",
             **names}
            for c in (1, 2)
        ]),
        ("appt_departments", [
            {"id": 20 + c, "city_id": c, "service_id": 10 + c, "code": "d", "name": "d"}
            for c in (1, 2)
        ]),
        ("bills", [
            {"id": 30 + c, "city_id": c, "service_id": 10 + c, "account": "a", "bill_ref": "b",
             "period": "2026-11", "amount_fen": 100, "currency": "CNY", "status": "paid"}
            for c in (1, 2)
        ]),
        ("payments", [
            {"id": 40 + c, "city_id": c, "public_id": f"pay_{c}", "channel_id": 1,
             "service_id": 10 + c, "bill_id": 30 + c, "amount_fen": 100, "total_fen": 100,
             "currency": "CNY", "status": "completed", "quote_expires_at": now}
            for c in (1, 2)
        ]),
        ("refunds", [
            {"id": 50 + c, "city_id": c, "public_id": f"ref_{c}", "payment_id": 40 + c,
             "amount_fen": 100, "total_fen": 100, "currency": "CNY", "source": "staff",
             "reason": "r", "requested_by": "s"}
            for c in (1, 2)
        ]),
        ("ledger_accounts", [
            {"id": 60 + c, "city_id": c, "code": "channel:1", "kind": "asset", "currency": "CNY"}
            for c in (1, 2)
        ]),
        ("ledger_postings", [
            {"id": 70 + c, "city_id": c, "kind": "payment", "payment_id": 40 + c}
            for c in (1, 2)
        ]),
        ("ledger_entries", [
            {"id": 80 + c, "city_id": c, "posting_id": 70 + c, "account_id": 60 + c,
             "amount_fen": 100, "currency": "CNY"}
            for c in (1, 2)
        ]),
    ]  # fmt: skip


async def _insert_as_of_now(connection: Any, name: str, values: list[dict[str, Any]]) -> None:
    """Insert rows into a table as the database has it now (an older revision): the model's
    defaults fill the columns it had then, not the ones later migrations add."""
    live = await connection.run_sync(
        lambda sync: {c["name"] for c in inspect(sync).get_columns(name)}
    )
    model = metadata.tables[name]
    filled = []
    for row in values:
        full = dict(row)
        for col in model.columns:
            if col.name in full or col.name not in live or col.default is None:
                continue
            default: Any = col.default
            full[col.name] = default.arg(None) if default.is_callable else default.arg
        filled.append(full)
    columns = [column(c, model.c[c].type) for c in filled[0]]
    await connection.execute(insert(table(name, *columns)), filled)


async def _counts(db: Database, names: list[str]) -> dict[str, int]:
    async with db.engine.connect() as connection:
        return {
            name: (await connection.execute(select(func.count()).select_from(table(name)))).one()[0]
            for name in names
        }


async def test_0020_keeps_every_row_up_and_down_and_keeps_a_city_to_its_own_rows(
    empty: Database,
) -> None:
    await migrations.upgrade(empty, "0019")
    rows = _rows()
    async with empty.engine.begin() as connection:
        for name, values in rows:
            await _insert_as_of_now(connection, name, values)
    expected = {name: len(values) for name, values in rows}

    await migrations.upgrade(empty, "0020")
    assert await _counts(empty, list(expected)) == expected
    # A payment of city 2 cannot point at a bill of city 1 any more.
    stray = {**rows[5][1][1], "id": 49, "public_id": "pay_stray", "bill_id": 31}
    with pytest.raises(IntegrityError):
        async with empty.engine.begin() as connection:
            await _insert_as_of_now(connection, "payments", [stray])  # 0020's columns

    await migrations.downgrade(empty, "0019")
    assert await _counts(empty, list(expected)) == expected
    await migrations.upgrade(empty)
    assert await _counts(empty, list(expected)) == expected
    assert await migrations.differences(empty) == []


async def test_0038_gives_the_purposes_written_before_their_codes(empty: Database) -> None:
    """Accesses and consents noted as English sentences read as the hub's purposes after the
    upgrade; words a channel stated keep no code and stay as they were."""
    await migrations.upgrade(empty, "0033")
    async with empty.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO channels (id, slug, name, kind, client_id, client_secret_hash,"
                " scopes, status, created_at) VALUES (1, 'app', 'App', 'partner', 'ch_app', 'x',"
                " '', 'active', CURRENT_TIMESTAMP)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO residents (id, identity_level, created_at)"
                " VALUES (1, 'none', CURRENT_TIMESTAMP)"
            )
        )
        old = (
            ("query traffic-violations: 2 record(s) shown to the resident", "plate"),
            ("answered query traffic-violations asked through channel app", "id_number"),
            ("checked eligibility for lottery round plates-1 (application through channel 4)",
             "id_number, name (to check eligibility)"),
            ("re-checked eligibility for lottery round plates-1 at its close", "id_number"),
            ("confirmed the identity asked through channel portal", "name, id_number"),
            ("the resident read their history", "history"),
            ("real-name check for our wallet", "name, id_number (verification)"),
            ("our own reason", "phone"),
        )  # fmt: skip
        for n, (purpose, fields) in enumerate(old, start=1):
            await conn.execute(
                text(
                    "INSERT INTO data_access (id, resident_id, at, actor_type, actor_id,"
                    " actor_name, purpose, fields) VALUES (:id, 1, CURRENT_TIMESTAMP, 'channel',"
                    " 'app', 'App', :purpose, :fields)"
                ),
                {"id": n, "purpose": purpose, "fields": fields},
            )
        for n, (scope, purpose) in enumerate(
            (("identity", "实名认证 real-name verification"), ("records", "for my wallet")), 1
        ):
            await conn.execute(
                text(
                    "INSERT INTO consents (id, resident_id, channel_id, scope, purpose, granted_at)"
                    " VALUES (:id, 1, 1, :scope, :purpose, CURRENT_TIMESTAMP)"
                ),
                {"id": n, "scope": scope, "purpose": purpose},
            )
    await migrations.upgrade(empty)
    async with empty.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT purpose_code, purpose_args, purpose FROM data_access ORDER BY id")
            )
        ).all()
        consents = (await conn.execute(text("SELECT purpose_code FROM consents ORDER BY id"))).all()
        names = (await conn.execute(text("SELECT names FROM channels"))).scalar_one()
    args = [r[1] if isinstance(r[1], dict) else json.loads(r[1]) for r in rows]
    assert [r[0] for r in rows] == [
        "query", "query_answer", "lottery_check", "lottery_recheck", "identity_check", "history",
        "verification", None,
    ]  # fmt: skip
    assert args[0] == {"service": "traffic-violations", "records": 2}
    assert args[1] == {"service": "traffic-violations", "via": "app"}
    assert args[2] == {"round": "plates-1", "via": "4"} and args[3] == {"round": "plates-1"}
    assert rows[7][2] == "our own reason" and args[7] == {}
    assert [c[0] for c in consents] == ["verification", None]
    assert names in ({}, "{}")
    await migrations.downgrade(empty, "0033")
    await migrations.upgrade(empty)
