"""Statements compiled once and run on the driver (`platform/fastsql.py`): what goes in and
comes out is what `session.execute` gives, inside the session's transaction, and a violated
key is SQLAlchemy's `IntegrityError`, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from cityhub.platform import fastsql, uow
from cityhub.platform.db import Database
from cityhub.platform.idempotency import IdempotencyKey

KEYS = fastsql.table(IdempotencyKey)
NAMES = ("owner", "key", "request_hash", "status_code", "body", "created_at")
INSERT = fastsql.Statement(
    insert(KEYS)
    .values({n: bindparam(n, type_=KEYS.c[n].type) for n in NAMES})
    .returning(KEYS.c.id, KEYS.c.created_at, KEYS.c.body)
)


def _values(key: str, at: dt.datetime) -> dict[str, object]:
    return {"owner": "test", "key": key, "request_hash": "h", "status_code": 201,
            "body": {"id": key, "n": 1}, "created_at": at}  # fmt: skip


async def test_a_statement_returns_what_session_execute_would(db: Database) -> None:
    at = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    async with db.unit_of_work() as session:
        await session.execute(select(1))  # a transaction under way: the driver's path
        row = await INSERT.first(session, _values("a", at))
        assert row is not None
        assert row["created_at"] == at and row["created_at"].utcoffset() == dt.timedelta(0)
        assert row["body"] == {"id": "a", "n": 1}
        stored = await session.get(IdempotencyKey, row["id"])
        assert stored is not None and (stored.key, stored.created_at) == ("a", at)


async def test_a_statement_runs_in_the_sessions_transaction(db: Database) -> None:
    at = dt.datetime.now(dt.UTC)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            await session.execute(select(1))
            await INSERT.first(session, _values("gone", at))
            raise RuntimeError("the work fails: its statements roll back")
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(KEYS)) == 0


async def test_a_violated_key_is_sqlalchemys_integrity_error(db: Database) -> None:
    at = dt.datetime.now(dt.UTC)
    async with db.unit_of_work() as session:
        await session.execute(select(1))
        await INSERT.first(session, _values("twice", at))
        with pytest.raises(IntegrityError) as raised:
            await INSERT.first(session, _values("twice", at))
        assert uow.is_concurrent_change(raised.value)
        await session.rollback()


def test_a_default_computed_per_row_must_be_given() -> None:
    # `created_at` defaults to the clock: a statement compiled once cannot hold its value.
    without = insert(KEYS).values(owner=bindparam("owner", type_=KEYS.c.owner.type))
    with pytest.raises(ValueError, match="created_at"):
        fastsql.Statement(without).compiled_for(postgresql.asyncpg.dialect())
