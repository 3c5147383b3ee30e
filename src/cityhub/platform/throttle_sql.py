"""Attempt counters in the hub's database: one row per (scope, key), taken with one upsert.

The upsert counts the attempt only while the key is open (`open_at <= now`) and, in the same
statement, sets when the key opens again from the new count: the waits of the back-off are
worked out here and sent as parameters, so the statement needs no date arithmetic of its own
and reads the same on SQLite and PostgreSQL. A refused attempt changes nothing. Each counter is
written in a short transaction of its own, apart from the request's, so that an attempt counts
even when the request then fails (and a guess never waits for someone else's transaction).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import ColumnElement, Index, Integer, String, and_, case, delete, literal, select
from sqlalchemy import update as sql_update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, Database, UTCDateTime, utcnow
from cityhub.platform.throttle import BackOff, Clock, Throttle

# One take in this many also deletes the scope's counters that were forgotten long ago.
PRUNE_ONE_IN = 256
# `open_at` of a key that need not wait: open since always, not "from now" (a request that read
# the clock a moment earlier, then waited for the lock, must not find the key shut by a later
# one that needed no wait).
ALWAYS = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ThrottleCounter(Base):
    """The attempts of one key in one scope, and when it may try again.

    Hub-wide, not a city's: a client address or a username is the same in every city."""

    __tablename__ = "throttle_counters"
    __table_args__ = (Index("ix_throttle_counters_scope_last_at", "scope", "last_at"),)

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[dt.datetime] = mapped_column()
    open_at: Mapped[dt.datetime] = mapped_column()
    # What `open_at` was before the last attempt: giving that attempt back restores it.
    previous_open_at: Mapped[dt.datetime] = mapped_column()


_C = ThrottleCounter


def _at(value: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(value, UTCDateTime())


def _open_at(policy: BackOff, attempts: Any, now: dt.datetime) -> ColumnElement[dt.datetime]:
    """When a key that has made `attempts` (an SQL expression) attempts may try again."""
    whens: list[tuple[Any, Any]] = [(attempts < policy.free, _at(ALWAYS))]
    whens += [(attempts == n, _at(now + wait)) for n, wait in policy.steps()]
    return case(*whens, else_=_at(now + policy.max_wait))


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


class DatabaseThrottle(Throttle):
    """Counters in the `throttle_counters` table."""

    def __init__(self, db: Database, *, hash_key: str, clock: Clock = utcnow) -> None:
        super().__init__(hash_key=hash_key, clock=clock)
        self.db = db

    def _row(self, policy: BackOff, key_hash: str) -> ColumnElement[bool]:
        return and_(_C.scope == policy.scope, _C.key_hash == key_hash)

    async def _take(self, policy: BackOff, key_hash: str, now: dt.datetime) -> dt.timedelta | None:
        forgotten = _C.last_at <= now - policy.forget_after
        attempts = case((forgotten, 1), else_=_C.attempts + 1)
        async with self.db.unit_of_work() as session:
            statement = (
                _insert(session)(_C)
                .values(
                    scope=policy.scope,
                    key_hash=key_hash,
                    attempts=1,
                    last_at=now,
                    open_at=now + policy.wait_after(1) if policy.free <= 1 else ALWAYS,
                    previous_open_at=ALWAYS,
                )
                .on_conflict_do_update(
                    index_elements=["scope", "key_hash"],
                    set_={
                        "attempts": attempts,
                        "last_at": _at(now),
                        "open_at": _open_at(policy, attempts, now),
                        "previous_open_at": _C.open_at,
                    },
                    where=_C.open_at <= now,
                )
                .returning(_C.attempts)
            )
            if await session.scalar(statement) is not None:
                if secrets.randbelow(PRUNE_ONE_IN) == 0:
                    await self._prune(session, policy, now)
                return None
            open_at = await session.scalar(select(_C.open_at).where(self._row(policy, key_hash)))
        # The row was there and shut; it may have opened since (then one more try is fine).
        return max(open_at - now, dt.timedelta(seconds=1)) if open_at else dt.timedelta(seconds=1)

    async def _open_at(self, policy: BackOff, key_hash: str) -> dt.datetime | None:
        async with self.db.unit_of_work() as session:
            found: dt.datetime | None = await session.scalar(
                select(_C.open_at).where(self._row(policy, key_hash))
            )
            return found

    async def _clear(self, policy: BackOff, key_hash: str) -> None:
        async with self.db.unit_of_work() as session:
            await session.execute(
                delete(_C)
                .where(self._row(policy, key_hash))
                .execution_options(synchronize_session=False)
            )

    async def _give_back(self, policy: BackOff, key_hash: str) -> None:
        async with self.db.unit_of_work() as session:
            await session.execute(
                sql_update(_C)
                .where(self._row(policy, key_hash), _C.attempts > 0)
                .values(attempts=_C.attempts - 1, open_at=_C.previous_open_at)
                .execution_options(synchronize_session=False)
            )

    async def prune(self, policy: BackOff) -> int:
        """Delete the scope's counters that are open and forgotten; how many."""
        async with self.db.unit_of_work() as session:
            return await self._prune(session, policy, self.clock())

    async def _prune(self, session: AsyncSession, policy: BackOff, now: dt.datetime) -> int:
        result = await session.execute(
            delete(_C)
            .where(
                _C.scope == policy.scope,
                _C.last_at <= now - policy.forget_after,
                _C.open_at <= now,
            )
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
