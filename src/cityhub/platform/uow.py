"""The unit of work: the one owner of a session's transactions.

Every session the hub opens (a request's, a worker job's, a CLI command's) belongs to a
`UnitOfWork`. It commits when the work ends normally and rolls back otherwise; nothing else
calls `commit()`. A flow that must call a provider between two transactions (prepare, call,
record) says so here, through `between_transactions(session)`, and one whose record must stand
even when a later step refuses says so through `keep(session)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.engine import Result
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from cityhub.platform.errors import Overloaded

_KEY = "cityhub.unit_of_work"
log = structlog.get_logger("cityhub.platform.uow")

# A clean-up to run, in a transaction of its own, when the work fails after a commit in between
# made part of it permanent (the idempotency claim of a request that called a provider).
AfterFailure = Callable[[AsyncSession], Awaitable[None]]


class UnitOfWork:
    """One session and its transactions: committed at the end of the work, rolled back if it
    fails. `commits` counts the transactions made permanent in between."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.commits = 0
        self._after_failure: list[AfterFailure] = []
        session.info[_KEY] = self

    async def commit(self) -> None:
        """Make the work so far permanent (the owner's end, or a step in between)."""
        await self.session.commit()
        self.commits += 1

    async def rollback(self) -> None:
        """Undo the open transaction, then run the clean-ups of work already committed."""
        await self.session.rollback()
        cleanups, self._after_failure = self._after_failure, []
        if not self.commits:
            return  # nothing was made permanent: the rollback undid it all
        for cleanup in cleanups:
            try:
                await cleanup(self.session)
                await self.session.commit()
            except Exception:
                await self.session.rollback()
                log.warning("unit_of_work_cleanup_failed", exc_info=True)

    def after_failure(self, cleanup: AfterFailure) -> None:
        """Run `cleanup` if the work fails after a commit in between."""
        self._after_failure.append(cleanup)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[UnitOfWork]:
    """One unit of work on a new session: committed when the block ends normally, rolled back
    otherwise. Waiting too long for a pooled connection is `Overloaded` (503, Retry-After)."""
    async with sessions() as session:
        uow = UnitOfWork(session)
        try:
            yield uow
            await uow.commit()
        except PoolTimeout:
            await uow.rollback()
            raise Overloaded() from None
        except OperationalError as exc:
            await uow.rollback()
            if is_busy(exc):
                raise Overloaded("the database is busy; retry in a moment") from None
            raise
        except BaseException:
            await uow.rollback()
            raise


class RetryingSession(Session):
    """The sessions of the hub: a transaction whose first statement fails because its pooled
    connection was dropped is retried once on a fresh connection (nothing ran in it yet, so
    nothing is lost or done twice)."""


@event.listens_for(RetryingSession, "do_orm_execute")
def _retry_on_dropped_connection(state: ORMExecuteState) -> Result[Any] | None:
    session = state.session
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        return None  # a statement of a transaction under way (or a flush first): no retry
    try:
        return state.invoke_statement()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.info("db_connection_dropped_retrying", error=type(exc.orig).__name__)
        session.rollback()
        return state.invoke_statement()


def of(session: AsyncSession) -> UnitOfWork:
    """The unit of work that owns the session."""
    uow = session.info.get(_KEY)
    if not isinstance(uow, UnitOfWork):
        raise RuntimeError("this session is not owned by a unit of work")
    return uow


@asynccontextmanager
async def between_transactions(session: AsyncSession) -> AsyncIterator[None]:
    """Commit what was prepared, and run the block (a provider call) with no transaction
    open, so that no database lock is held while the provider answers; what follows the block
    runs in the next transaction. The block must not touch the database."""
    await of(session).commit()
    yield
    if session.in_transaction():
        raise RuntimeError("the database was used between transactions (during a provider call)")


async def keep(session: AsyncSession) -> None:
    """Commit the work so far, so that it stands even if a later step refuses (an access on
    record when the answer is "not eligible")."""
    await of(session).commit()


async def undo(session: AsyncSession) -> None:
    """Roll back the open transaction (what a refused step wrote, for a page that answers the
    refusal itself); the work goes on, and what a step in between committed stands."""
    await of(session).session.rollback()


def is_concurrent_change(exc: IntegrityError) -> bool:
    """Whether the violation is of a unique key: another transaction wrote the same thing at
    the same time. Any other violation (a foreign key, a check, a missing value) is a bug."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return str(sqlstate) == "23505"  # PostgreSQL: unique_violation
    name = getattr(orig, "sqlite_errorname", "")
    return name in {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


# SQLITE_BUSY and its extended codes (a lock not free within the busy timeout; a read snapshot
# too old to write from, SQLITE_BUSY_SNAPSHOT).
_SQLITE_BUSY = 5


def is_busy(exc: OperationalError) -> bool:
    """Whether SQLite refused for a lock held by another writer (an overload, not a bug)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == _SQLITE_BUSY
