"""In-process caches of rows that change rarely and are read on every request (a channel, a
city by slug, a channel's grants), kept right across processes by a version counter.

Every change to a watched table (`cities`, `channels`, `grants`) bumps `cache_versions` in the
same transaction, by a database trigger (migration 0022), however the change is made (the API,
the console, the CLI, a test's factory, SQL by hand). A session reads the counter once, at its
first cached look-up (one primary-key read, instead of the three or four look-ups it
replaces); when it moved, everything cached is dropped. So a change committed before a request
starts is seen by that request in every process: a revoked grant is refused at once.

A session that writes a watched table (or has such a change pending) reads past the cache for
the rest of its life: it must see its own change, and what it reads must not be cached before
it is committed; when it commits, its process forgets what it cached.

A `cityhub serve` process on PostgreSQL does not read the counter per request: it listens
(`platform/cache_listen.py`). The trigger announces each new version as the change commits
(NOTIFY), and the listener also reads the counter itself every quarter of a second; while the
listener has read it within the last `FRESH_FOR` seconds, a session takes the version the
listener knows, without a statement. So a change made elsewhere reaches every listening
process within milliseconds, and within a second at worst (a revoked grant is refused within
one second everywhere); a listener that falls behind or loses its connection stops vouching,
and sessions read the counter again, as every process without a listener does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import String, event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column
from sqlalchemy.orm import make_transient_to_detached as _detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from cityhub.platform.db import Base
from cityhub.platform.uow import RetryingSession

# The tables whose changes bump the version (each has a trigger: migrations 0022 and 0031).
WATCHED_TABLES = frozenset({"cities", "channels", "grants", "services"})
VERSION_NAME = "access"
CACHES_KEY = "cityhub.caches"
_SEEN = "cityhub.cache_version_seen"
_BYPASS = "cityhub.cache_bypass"
# How long the listener's last read of the counter vouches for the version it knows.
FRESH_FOR = 0.75
T = TypeVar("T")
B = TypeVar("B", bound=Base)


class CacheVersion(Base):
    """A counter bumped, by triggers, in the transaction of every change to cached tables."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


# Built once: the statement runs at the start of nearly every request.
READ_VERSION = select(CacheVersion.version).where(CacheVersion.name == VERSION_NAME)


class Caches:
    """One process's caches (one per `Database`), each a bounded dictionary."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self.version: int | None = None
        self._stores: dict[str, dict[Hashable, Any]] = {}
        self._vouched_until = 0.0  # monotonic: until when the listener vouches for `version`
        self.fresh_for = FRESH_FOR

    def clear(self) -> None:
        """Forget everything (the version moved)."""
        self._stores = {}

    def heard(self, version: int, *, read: bool) -> None:
        """The listener's news: the version announced by a change (`read` False) or read from
        the counter (`read` True, which vouches for it for `FRESH_FOR` seconds). The counter
        only goes up: an older figure (a read that started before an announced change) is
        not news."""
        if self.version is None or version > self.version:
            self.clear()
            self.version = version
        if read and version >= self.version:
            self._vouched_until = time.monotonic() + self.fresh_for

    def stop_vouching(self) -> None:
        """The listener lost its connection or stopped: sessions read the counter again."""
        self._vouched_until = 0.0

    @property
    def vouched(self) -> bool:
        """Whether the listener read the counter recently enough to answer for it."""
        return self.version is not None and time.monotonic() < self._vouched_until

    async def _version(self, session: AsyncSession) -> int:
        """The counter as this session sees it, at its first look-up only: the listener's,
        while it vouches for it, else read."""
        seen: int | None = session.info.get(_SEEN)
        if seen is not None:
            return seen
        if self.vouched:
            assert self.version is not None
            seen = self.version
        else:
            current = await session.scalar(READ_VERSION)
            seen = int(current or 0)
            if seen != self.version:
                self.clear()
                self.version = seen
        session.info[_SEEN] = seen
        return seen

    async def get(
        self, session: AsyncSession, kind: str, key: Hashable, load: Callable[[], Awaitable[T]]
    ) -> T:
        """The cached value of (kind, key), or what `load` reads (kept unless it is None)."""
        if bypassed(session):
            return await load()
        seen = await self._version(session)
        store = self._stores.setdefault(kind, {})
        if key in store:
            found: T = store[key]
            return found
        value = await load()
        # Kept only if no newer version was seen meanwhile (what was read may predate it).
        if value is not None and self.version == seen and not bypassed(session):
            if len(store) >= self.max_entries:
                store.clear()
            store[key] = value
        return value


def version_seen(session: AsyncSession) -> int | None:
    """The version this session's first cached look-up read (None before one)."""
    seen: int | None = session.info.get(_SEEN)
    return seen


def caches_of(session: AsyncSession) -> Caches | None:
    """The caches of the session's process, if its database has them."""
    found = session.info.get(CACHES_KEY)
    return found if isinstance(found, Caches) else None


async def cached(
    session: AsyncSession, kind: str, key: Hashable, load: Callable[[], Awaitable[T]]
) -> T:
    """`load()` through the session's caches (straight to the database without them)."""
    found = caches_of(session)
    if found is None:
        return await load()
    return await found.get(session, kind, key, load)


async def cached_row(
    session: AsyncSession, kind: str, key: Hashable, load: Callable[[], Awaitable[B | None]]
) -> B | None:
    """An ORM row through the caches: `load()` on a miss, else the cached row attached to this
    session (`attach`); a row that is not there is not cached."""
    if caches_of(session) is None or bypassed(session):
        return await load()
    loaded: list[B] = []

    async def load_snapshot() -> tuple[type[B], dict[str, Any]] | None:
        row = await load()
        if row is None:
            return None
        loaded.append(row)
        return snapshot(row)

    found = await cached(session, kind, key, load_snapshot)
    if found is None:
        return None
    if loaded:
        return loaded[0]  # read just now: already this session's
    return await attach(session, found)


def snapshot(row: B) -> tuple[type[B], dict[str, Any]]:
    """What is cached of an ORM row: its class and column values (never the row itself,
    which belongs to one session)."""
    mapper = row.__mapper__
    return type(row), {attr.key: getattr(row, attr.key) for attr in mapper.column_attrs}


async def attach(session: AsyncSession, cached_row: tuple[type[B], dict[str, Any]]) -> B:
    """A cached row as a clean instance of this session (no SQL): a change to it is written
    by the session's flush like any loaded row's. The session's own instance when it holds
    the row already; else a new one, filled as a load fills it (no constructor, no attribute
    events: a third of the cost of `session.merge`) and added to the session as persistent."""
    cls, values = cached_row
    sync = session.sync_session
    mapper = cls.__mapper__
    key = mapper.identity_key_from_primary_key(tuple(values[name] for name in _key_names(cls)))
    held = sync.identity_map.get(key)
    if held is not None:
        # A rollback (a refused form, undone) expired it: filled again from the cache, as
        # a merge would, so that reading it needs no SQL (no lazy load in async code).
        state = instance_state(held)
        for name in list(state.expired_attributes & values.keys()):
            set_committed_value(held, name, values[name])
        return held  # type: ignore[no-any-return]
    row: B = mapper.class_manager.new_instance()
    instance_state(row).dict.update(values)
    _detached(row)
    sync.add(row)
    return row


_KEY_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _key_names(cls: type[Any]) -> tuple[str, ...]:
    """The attributes of a mapped class's identity (its mapper's primary key)."""
    found = _KEY_NAMES.get(cls)
    if found is None:
        mapper = cls.__mapper__
        found = _KEY_NAMES[cls] = tuple(
            mapper.get_property_by_column(column).key for column in mapper.primary_key
        )
    return found


def bypassed(session: AsyncSession) -> bool:
    """Whether the session wrote, or is about to write, a watched table."""
    if session.info.get(_BYPASS):
        return True
    sync = session.sync_session
    pending = (*sync.new, *sync.dirty, *sync.deleted)
    if any(_table_of(obj) in WATCHED_TABLES for obj in pending):
        session.info[_BYPASS] = True
        return True
    return False


def _table_of(obj: Any) -> str | None:
    table = getattr(obj, "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(RetryingSession, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    if any(
        _table_of(obj) in WATCHED_TABLES for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_BYPASS] = True


@event.listens_for(RetryingSession, "after_commit")
def _committed(session: Session) -> None:
    # This process sees its own change at once, before any announcement of it arrives.
    if session.info.get(_BYPASS):
        found = session.info.get(CACHES_KEY)
        if isinstance(found, Caches):
            found.clear()


@event.listens_for(RetryingSession, "do_orm_execute")
def _statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info[_BYPASS] = True
