"""The usage facts every domain gives the city's figures (`cityhub.figures`), and the two SQL
expressions they need that SQLite and PostgreSQL spell differently.

A domain's `usage_facts(city_id=...)` is a SELECT with the columns of `COLUMNS`, one row per
thing a person did (a payment, a booking, an application, a request); the figures module
UNIONs them and lets the database GROUP BY. No domain's table is read outside its domain:
the SELECT is built by the domain's own service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# pillar (str), service_id (int | None: a 311 request has a type, not a catalogue service),
# channel_id (int | None), district (str | None), person (resident id | None for an anonymous
# report), at (UTC timestamp), ok (1 | 0), latency_ms (float | None), fee_fen (int).
COLUMNS = (
    "pillar",
    "service_id",
    "channel_id",
    "district",
    "person",
    "at",
    "ok",
    "latency_ms",
    "fee_fen",
)


class millis_between(FunctionElement[float]):  # noqa: N801 (an SQL function's name)
    """Milliseconds from the first timestamp to the second (NULL if either is)."""

    type = Float()
    inherit_cache = True
    name = "millis_between"


@compiles(millis_between, "sqlite")
def _millis_sqlite(element: millis_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400000.0)"
    )


@compiles(millis_between, "postgresql")
def _millis_pg(element: millis_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - "
        f"{compiler.process(start, **kw)})) * 1000.0)"
    )


class local_day(FunctionElement[str]):  # noqa: N801
    """The calendar day (YYYY-MM-DD) of a UTC timestamp at a fixed offset in minutes."""

    type = String()
    inherit_cache = True
    name = "local_day"


@compiles(local_day, "sqlite")
def _day_sqlite(element: local_day, compiler: SQLCompiler, **kw: Any) -> str:
    at, offset = list(element.clauses)
    return f"date({compiler.process(at, **kw)}, ({compiler.process(offset, **kw)}) || ' minutes')"


@compiles(local_day, "postgresql")
def _day_pg(element: local_day, compiler: SQLCompiler, **kw: Any) -> str:
    at, offset = list(element.clauses)
    return (
        f"to_char(({compiler.process(at, **kw)} AT TIME ZONE 'UTC') + "
        f"make_interval(mins => {compiler.process(offset, **kw)}), 'YYYY-MM-DD')"
    )
