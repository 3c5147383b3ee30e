"""FHIR search as R4 defines it: parameters with `date` prefixes, `token` and `reference`
values, commas for OR and repeats for AND, `_count`, `_total`, `_include`, and keyset paging by
a `next` link whose cursor is the last row's sort key (a page never skips a row that stood
still, however rows before it change)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from starlette.datastructures import URL

from cityhub.appointments.fhir.wire import entry, fhir
from cityhub.platform.errors import BadRequest

RESULT_PARAMS = ("_count", "_total", "_include", "_cursor")
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


@dataclass(frozen=True)
class Param:
    """A search parameter a resource supports, as the CapabilityStatement lists it."""

    name: str
    type: str  # token | reference | date | string
    doc: str


@dataclass(frozen=True)
class Args:
    """A search's parameters: values by name (each repeat ANDed, each comma ORed)."""

    values: dict[str, list[str]]
    count: int
    total: bool
    includes: tuple[str, ...]
    cursor: str | None

    def get(self, name: str) -> list[list[str]]:
        """The name's repeats, each split at its commas."""
        return [[v for v in raw.split(",") if v] for raw in self.values.get(name, [])]


def parse(
    request: Request,
    params: Sequence[Param],
    includes: Sequence[str] = (),
    *,
    default: int = 50,
    most: int = 200,
) -> Args:
    """The request's search parameters. Unknown ones are ignored, as R4 says, unless the
    client sends `Prefer: handling=strict`; `_count` above `most` is cut to it."""
    known = {p.name for p in params}
    strict = "handling=strict" in request.headers.get("prefer", "")
    values: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        if name in known:
            values.setdefault(name, []).append(value)
        elif strict and name not in RESULT_PARAMS:
            raise BadRequest(
                f"the search parameter {name!r} is not supported",
                code="unknown_param",
                field=name,
            )
    asked = request.query_params.getlist("_include")
    if strict and (unknown := [i for i in asked if i not in includes]):
        raise BadRequest(
            f"_include={unknown[0]} is not supported", code="unknown_param", field="_include"
        )
    total = request.query_params.get("_total", "none")
    if total not in ("none", "estimate", "accurate"):
        raise BadRequest(
            "_total is none, estimate or accurate", code="invalid_param", field="_total"
        )
    return Args(
        values=values,
        count=count_of(request.query_params.get("_count"), default, most),
        total=total == "accurate",
        includes=tuple(i for i in asked if i in includes),
        cursor=request.query_params.get("_cursor"),
    )


def count_of(raw: str | None, default: int, most: int) -> int:
    """`_count` (the default when absent), cut to `most`."""
    if raw is None:
        return default
    if not raw.isdigit():
        raise BadRequest("_count is a number", code="invalid_param", field="_count")
    return min(int(raw), most)


# -- values ------------------------------------------------------------------------------------


def token(value: str) -> tuple[str | None, str]:
    """A token's system (None when not given) and code."""
    if "|" in value:
        system, code = value.split("|", 1)
        return system or None, code
    return None, value


def reference(value: str, kind: str | None = None) -> tuple[str | None, str]:
    """A reference's type (None when bare) and id; an absolute URL keeps its last two parts."""
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return kind, parts[-1]


def date_range(value: str, name: str) -> tuple[str, dt.datetime, dt.datetime]:
    """A date search value: its prefix and the range [low, high) its precision covers."""
    prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
    try:
        if len(text) == 4:
            low = dt.datetime(int(text), 1, 1, tzinfo=dt.UTC)
            return prefix, low, low.replace(year=low.year + 1)
        if len(text) == 7:
            low = dt.datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=dt.UTC)
            high = (low + dt.timedelta(days=32)).replace(day=1)
            return prefix, low, high
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            low = dt.datetime.combine(day, dt.time(), dt.UTC)
            return prefix, low, low + dt.timedelta(days=1)
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{value!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)",
            code="invalid_date",
            field=name,
        ) from None
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return prefix, at, at + dt.timedelta(seconds=1)


def date_clause(column: Any, value: str, name: str) -> ColumnElement[bool]:
    """Where a point in time (`column`) matches a date search value, per R4's prefixes."""
    prefix, low, high = date_range(value, name)
    clauses: dict[str, ColumnElement[bool]] = {
        "eq": and_(column >= low, column < high),
        "ne": or_(column < low, column >= high),
        "gt": column >= high,
        "sa": column >= high,
        "lt": column < low,
        "eb": column < low,
        "ge": column >= low,
        "le": column < high,
    }
    return clauses[prefix]


def day_clause(column: Any, value: str, name: str) -> ColumnElement[bool]:
    """Where a day (`column`) matches a date search value, both read at day precision."""
    prefix, low, high = date_range(value, name)
    first, after = low.date(), (high - dt.timedelta(microseconds=1)).date() + dt.timedelta(days=1)
    clauses: dict[str, ColumnElement[bool]] = {
        "eq": and_(column >= first, column < after),
        "ne": or_(column < first, column >= after),
        "gt": column >= after,
        "sa": column >= after,
        "lt": column < first,
        "eb": column < first,
        "ge": column >= first,
        "le": column < after,
    }
    return clauses[prefix]


# -- paging ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyset:
    """The sort of a search: its columns (ascending) and how to read a row's key."""

    columns: tuple[Any, ...]
    key_of: Callable[[Any], tuple[Any, ...]]
    kinds: tuple[str, ...] = field(default=())  # "dt" | "date" | "int", one per column

    def encode(self, row: Any) -> str:
        values = [v.isoformat() if isinstance(v, dt.date) else v for v in self.key_of(row)]
        return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")

    def after(self, cursor: str) -> ColumnElement[bool]:
        """Rows after the cursor's key, as (a > x) or (a = x and b > y) (every database)."""
        values = self._decode(cursor)
        clause: ColumnElement[bool] | None = None
        for column, value in reversed(list(zip(self.columns, values, strict=True))):
            step = column > value
            clause = step if clause is None else or_(step, and_(column == value, clause))
        assert clause is not None
        return clause

    def _decode(self, cursor: str) -> list[Any]:
        try:
            raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(raw, list) or len(raw) != len(self.columns):
                raise ValueError
            return [_typed(kind, value) for kind, value in zip(self.kinds, raw, strict=True)]
        except (ValueError, TypeError, binascii.Error):
            raise BadRequest(
                "_cursor is not one this server gave", code="invalid_param", field="_cursor"
            ) from None


def _typed(kind: str, value: Any) -> Any:
    if kind == "dt":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if not isinstance(value, int):
        raise ValueError
    return value


@dataclass(frozen=True)
class Page:
    """One page of a search: its rows, the cursor of the next page, the total when asked."""

    rows: list[Any]
    next_cursor: str | None
    total: int | None


async def page(session: AsyncSession, query: Select[Any], keyset: Keyset, args: Args) -> Page:
    """Run a filtered search: the database filters and sorts, then the page is cut."""
    total = None
    if args.total or args.count == 0:
        counted = select(func.count()).select_from(query.order_by(None).subquery())
        total = int(await session.scalar(counted) or 0)
    if args.count == 0:
        return Page([], None, total)
    if args.cursor:
        query = query.where(keyset.after(args.cursor))
    query = query.order_by(*keyset.columns).limit(args.count + 1)
    rows = list((await session.execute(query)).all())
    more = len(rows) > args.count
    rows = rows[: args.count]
    if total is None and not more and not args.cursor:
        total = len(rows)  # the whole result is on this page: its size is the total
    return Page(rows, keyset.encode(rows[-1]) if more else None, total)


def bundle(
    request: Request,
    matches: list[dict[str, Any]],
    found: Page,
    included: Sequence[dict[str, Any]] = (),
    url: str | None = None,
) -> Any:
    """A searchset Bundle with `self` and (when there is more) `next` links."""
    here = URL(url) if url else request.url
    links = [{"relation": "self", "url": str(here)}]
    if found.next_cursor:
        links.append(
            {"relation": "next", "url": str(here.include_query_params(_cursor=found.next_cursor))}
        )
    body: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "link": links}
    if found.total is not None:
        body["total"] = found.total
    entries = [entry(request, r) for r in matches]
    entries += [entry(request, r, "include") for r in included]
    if entries:
        body["entry"] = entries
    return fhir(body)
