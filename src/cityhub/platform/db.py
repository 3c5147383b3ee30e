"""Engine, sessions, the declarative base and the one transaction owner, `unit_of_work()`."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Constraint,
    DateTime,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Table,
    UniqueConstraint,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from cityhub.platform import uow
from cityhub.platform.clock import clock
from cityhub.platform.config import Settings
from cityhub.platform.uow import RetryingSession


def _fk_column(constraint: Constraint, _table: Table) -> str:
    """The column a foreign key is named after: its own column, the one beside `city_id` in a
    key between two tenant tables (`fk_payments_bill_id_bills` for (city_id, bill_id))."""
    assert isinstance(constraint, ForeignKeyConstraint)
    names = [c.name for c in constraint.columns] or list(constraint.column_keys)
    return next((n for n in names if n != "city_id"), names[0])


NAMING: dict[str, Any] = {
    "fk_column": _fk_column,
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(fk_column)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer primary keys: BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY
# is the auto-incrementing rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")
JsonType = JSON().with_variant(postgresql.JSONB(), "postgresql")


def str_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum column stored as its string values with a CHECK, the same on every database."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
    )


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (the hub's clock: `platform/clock.py`)."""
    return clock.now()


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME())  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """The declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JsonType}


class TenantMixin:
    """A table whose rows belong to one city, ready to be distributed by `city_id` on a sharded
    PostgreSQL (Citus, docs/scaling.md): `city_id` comes first in its keys and indexes.

    The primary key is (city_id, id); `id` still comes from the database's sequence alone and
    is unique on its own, so the ORM knows a row by `id` (`session.get(Model, id)`). SQLite
    generates ids only for a one-column INTEGER PRIMARY KEY, so there the key stays `id` and a
    UNIQUE (city_id, id), declared for SQLite only, stands in for it as the target of the
    composite foreign keys (`tenant_fk`)."""

    @declared_attr
    def city_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(
            BigId, ForeignKey("cities.id"), primary_key=True, index=True, sort_order=-2
        )

    @declared_attr
    def id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(BigId, primary_key=True, autoincrement=True, sort_order=-1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"primary_key": [cls.__table__.c.id]}  # type: ignore[attr-defined]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.__dict__.get("__table__")
        if isinstance(table, Table):
            if table.c.id.autoincrement is not True:
                raise TypeError(f"{cls.__name__} declares an id: use the TenantMixin's")
            table.append_constraint(UniqueConstraint("city_id", "id").ddl_if(dialect="sqlite"))


def tenant_fk(column: str, target: str, *, ondelete: str | None = None) -> ForeignKeyConstraint:
    """A foreign key from a tenant table to another tenant table, carrying `city_id` on both
    sides: (city_id, column) -> target (city_id, id). A row can only point at a row of its own
    city, and a sharded database keeps both on the same node."""
    return ForeignKeyConstraint(
        ["city_id", column], [f"{target}.city_id", f"{target}.id"], ondelete=ondelete
    )


def declared_for(item: object, dialect: str) -> bool:
    """Whether a constraint or index of the models exists on this dialect (one declared with
    `ddl_if(dialect=...)` for another is not there, and must not be looked for)."""
    condition = getattr(item, "_ddl_if", None)
    wanted = getattr(condition, "dialect", None)
    if wanted is None:
        return True
    return dialect == wanted if isinstance(wanted, str) else dialect in wanted


# The largest id a BIGINT holds: a larger number (in a path, a query, a token) is no row, and
# must not reach the database driver, which fails on it instead of finding nothing.
MAX_ROW_ID = 2**63 - 1


class Database:
    """An engine and its session factory, for one database URL.

    No `pool_pre_ping` (a round trip before every checkout): connections are recycled after
    `pool_recycle` seconds, and a transaction whose first statement finds its connection
    dropped (a database restart, an idle connection cut by a firewall) is retried once on a
    fresh one (`uow.RetryingSession`). Waiting longer than `pool_timeout` for a
    connection raises `sqlalchemy.exc.TimeoutError`, which the hub answers with 503."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        max_overflow: int | None = None,
        pool_timeout: float = 30.0,
        pool_recycle: float = 1800.0,
        caches: bool = True,
    ) -> None:
        kwargs: dict[str, Any] = {
            "echo": echo,
            "pool_size": pool_size,
            "max_overflow": pool_size if max_overflow is None else max_overflow,
            "pool_timeout": pool_timeout,
            "pool_recycle": pool_recycle,
        }
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            event.listen(self.engine.sync_engine, "checkout", _closed_is_gone)
        from cityhub.platform.cache import CACHES_KEY, Caches

        # This process's caches of rows read on every request (`platform/cache.py`).
        self.caches = Caches() if caches else None
        self.sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=RetryingSession,
            info={CACHES_KEY: self.caches} if caches else None,
        )

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded database."""
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A worker job's or a CLI command's session, owned by a unit of work (`platform/uow`):
        committed when the block ends normally, rolled back otherwise."""
        async with uow.unit_of_work(self.sessions) as work:
            yield work.session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _closed_is_gone(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # A pooled connection the server closed while it sat idle (a restart, a terminated
    # backend) is known to the driver without a round trip: the pool replaces it at checkout.
    # (A transaction's first statement is retried on a fresh connection too, see
    # `uow.RetryingSession`, but a request whose first statement runs on the driver itself,
    # `platform/fastsql.py`, after the caches attached its rows, has no such retry.)
    driver = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that BEGIN IMMEDIATE (below)
    # takes the write lock at the start of every transaction that may write: two writers then
    # queue on the busy timeout instead of failing with "database is locked" half-way.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# How an SQLite transaction begins in this task: IMMEDIATE (the write lock, taken at once)
# unless a read-only request said otherwise (`reads_first`).
_sqlite_begin_mode: ContextVar[str] = ContextVar("cityhub_sqlite_begin", default="IMMEDIATE")


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql(f"BEGIN {_sqlite_begin_mode.get()}")


@contextmanager
def reads_first() -> Iterator[None]:
    """SQLite transactions begun in the block are DEFERRED: they read without the write lock
    (alongside a writer, in WAL mode), and take it only if they write. For requests whose
    method is safe (GET, HEAD): most only read, and one that writes (an audited look-up)
    upgrades; if a writer committed in between, SQLite refuses the upgrade, which is answered
    503 `overloaded` (`uow.is_busy`). No effect on PostgreSQL."""
    token = _sqlite_begin_mode.set("DEFERRED")
    try:
        yield
    finally:
        _sqlite_begin_mode.reset(token)


def database_for(settings: Settings) -> Database:
    """The database the settings name (with their pool sizes), creating the data folder for
    SQLite."""
    if settings.url.startswith("sqlite"):
        settings.data.mkdir(parents=True, exist_ok=True)
    return Database(
        settings.url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        pool_recycle=settings.db_pool_recycle_seconds,
    )
