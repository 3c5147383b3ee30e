"""What of the catalogue is cached in process: a service by id (the hospital of every booking
attempt) and the catalogue's answers, kept right by the caches' version counter, which a
trigger on `services` bumps as those on cities, channels and grants do (migration 0024).

A session that writes services (or has such a change pending) reads past these caches for the
rest of its life, as `platform/cache.py` does for the tables it watches: it must see its own
change, and what it reads must not be cached before it is committed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from cityhub.cities.models import Service
from cityhub.platform import cache
from cityhub.platform.uow import RetryingSession

T = TypeVar("T")
_WROTE = "cityhub.services_written"
TABLE = Service.__tablename__


def wrote_services(session: AsyncSession) -> bool:
    """Whether the session wrote, or is about to write, a service."""
    if session.info.get(_WROTE):
        return True
    sync = session.sync_session
    if any(isinstance(obj, Service) for obj in (*sync.new, *sync.dirty, *sync.deleted)):
        session.info[_WROTE] = True
        return True
    return False


async def cached(
    session: AsyncSession, kind: str, key: Hashable, load: Callable[[], Awaitable[T]]
) -> T:
    """`load()` through the process's caches, unless the session wrote a service."""
    if wrote_services(session):
        return await load()
    return await cache.cached(session, kind, key, load)


async def service_row(
    session: AsyncSession, service_id: int, load: Callable[[], Awaitable[Service | None]]
) -> Service | None:
    """A service by id through the caches, as a row of this session."""
    if wrote_services(session):
        return await load()
    return await cache.cached_row(session, "service", service_id, load)


@event.listens_for(RetryingSession, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if any(isinstance(obj, Service) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_WROTE] = True


@event.listens_for(RetryingSession, "do_orm_execute")
def _statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) == TABLE:
            state.session.info[_WROTE] = True
