"""Statements of the hot paths, compiled once and run on the driver.

A `Statement` wraps a SQLAlchemy Core statement whose values are all `bindparam`s. On
PostgreSQL it is compiled once per process and run on the session's own asyncpg connection,
inside the session's transaction: no ORM, no per-call compilation or cache key, no result
object, about a fifth of the CPU of `session.execute`. Its values go through the columns'
bind processors and its rows through their result processors, so what goes in and comes out
is what `session.execute` would give (aware UTC datetimes, enum members), and a violated
constraint is raised as SQLAlchemy's `IntegrityError`, as `session.execute` raises it. On
SQLite (and any other database) it is `session.execute` of the same statement.

Use it for statements on tables the caches do not watch (`platform/cache.py`): the session's
bookkeeping (its identity map, the cache's bypass of a session that wrote a cached table) does
not see them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql import ClauseElement

from cityhub.platform.db import reads_first

Row = Mapping[str, Any]


def table(model: type[Any]) -> Table:
    """The table of a mapped class, for Core statements."""
    found = model.__table__
    assert isinstance(found, Table)
    return found


class _Compiled:
    """The statement's SQL for asyncpg, with the processors of its values and columns."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled: Any = statement.compile(dialect=dialect)  # a SQLCompiler
        self.sql = compiled.string
        binds = compiled.binds
        self.names: Sequence[str] = list(compiled.positiontup or ())
        # Values fixed in the statement itself (a `literal`), as SQLAlchemy binds them.
        self.fixed = {
            name: binds[name].effective_value for name in self.names if not binds[name].required
        }
        # A column left out of an INSERT gets its default as SQLAlchemy would give it: a fixed
        # one here; one computed per row (a clock) must be given, or this is refused.
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is None or not getattr(default, "is_scalar", False):
                raise ValueError(f"give {column.key!r} a value: its default is computed per row")
            self.fixed[column.key] = default.arg
        self.bind_processors: list[Callable[[Any], Any] | None] = [
            binds[name].type._cached_bind_processor(dialect) for name in self.names
        ]
        self.columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (key, type_._cached_result_processor(dialect, None))
            for key, _name, _objects, type_ in compiled._result_columns
        ]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, process in zip(self.names, self.bind_processors, strict=True):
            value = self.fixed[name] if name in self.fixed else params[name]
            values.append(process(value) if process is not None else value)
        return values

    def row(self, record: Any) -> dict[str, Any]:
        return {
            key: (process(value) if process is not None and value is not None else value)
            for (key, process), value in zip(self.columns, record, strict=True)
        }


class Statement:
    """A Core statement compiled once, run with its values by name (see the module). Given a
    function of the dialect's name instead, the statement is built once per dialect (an
    `INSERT ... ON CONFLICT` is each dialect's own construct)."""

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        self._make = statement if callable(statement) else (lambda _name: statement)
        self._built: dict[str, ClauseElement] = {}
        self._pg: _Compiled | None = None

    def of(self, dialect_name: str) -> ClauseElement:
        """The statement for this dialect."""
        found = self._built.get(dialect_name)
        if found is None:
            found = self._built[dialect_name] = self._make(dialect_name)
        return found

    def compiled_for(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for PostgreSQL's driver (once); a `ValueError` if a column
        it leaves out has a default computed per row."""
        if self._pg is None:
            self._pg = _Compiled(self.of(dialect.name), dialect)
        return self._pg

    async def rows(self, session: AsyncSession, params: Mapping[str, Any]) -> list[Row]:
        """The statement's rows (none for a statement that returns nothing)."""
        # A transaction's first statement goes through the session, which retries it on a
        # fresh connection if the pooled one was dropped (`uow.RetryingSession`).
        first = not session.in_transaction()
        connection = await session.connection()
        dialect = connection.dialect
        if dialect.name != "postgresql" or first:
            statement: Any = self.of(dialect.name)
            result: Any = await session.execute(statement, dict(params))
            return [dict(r) for r in result.mappings().all()] if result.returns_rows else []
        pg = self.compiled_for(dialect)
        arguments = pg.arguments(params)
        fairy = await connection.get_raw_connection()
        adapter: Any = fairy.dbapi_connection
        async with adapter._execute_mutex:
            try:
                if adapter._transaction is None:  # the session's transaction, as its cursor does
                    await adapter._start_transaction()
                # The driver's prepared statements, dropped as SQLAlchemy drops them after a
                # schema change.
                asof = getattr(dialect, "_invalidate_schema_cache_asof", 0)
                prepared, _attributes = await adapter._prepare(pg.sql, asof)
                records = await prepared.fetch(*arguments)
            except exc.DBAPIError:
                raise
            except Exception as error:
                raise _translated(adapter, dialect, pg.sql, arguments, error) from error
        return [pg.row(r) for r in records]

    async def first(self, session: AsyncSession, params: Mapping[str, Any]) -> Row | None:
        """The statement's first row, if any."""
        found = await self.rows(session, params)
        return found[0] if found else None

    async def first_outside(self, engine: AsyncEngine, params: Mapping[str, Any]) -> Row | None:
        """A read's first row, outside any transaction: on PostgreSQL one round trip on the
        driver (no `BEGIN`, no `COMMIT`), elsewhere in a read transaction of its own."""
        async with engine.connect() as connection:
            dialect = connection.dialect
            if dialect.name != "postgresql":
                statement: Any = self.of(dialect.name)
                with reads_first():
                    result = await connection.execute(statement, dict(params))
                    found = result.mappings().first()
                return None if found is None else dict(found)
            pg = self.compiled_for(dialect)
            fairy = await connection.get_raw_connection()
            adapter: Any = fairy.dbapi_connection
            async with adapter._execute_mutex:
                asof = getattr(dialect, "_invalidate_schema_cache_asof", 0)
                prepared, _attributes = await adapter._prepare(pg.sql, asof)
                record = await prepared.fetchrow(*pg.arguments(params))
        return None if record is None else pg.row(record)


def _translated(
    adapter: Any, dialect: Dialect, sql: str, arguments: list[Any], error: Exception
) -> Exception:
    """The driver's error as `session.execute` raises it (`IntegrityError` for a violated
    constraint, carrying the driver's error with its SQLSTATE)."""
    try:
        adapter._handle_exception(error)
    except Exception as dbapi_error:
        if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
            return dbapi_error
        return exc.DBAPIError.instance(
            sql, arguments, dbapi_error, dialect.loaded_dbapi.Error, dialect=dialect
        )
    return error
