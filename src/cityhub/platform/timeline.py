"""One person's affairs as each domain lists them for the history (`cityhub.history`).

Every domain that keeps something of a person's answers `Entry` rows newest first, after a
`Before` mark, through a function of its own service; the history merges them. The order is
(at, kind, row id), descending, the same in every domain, so a mark taken from one page says
exactly where each domain's next page starts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import and_, or_, true
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Entry:
    """One thing of the person's: a payment, a booking, a consent..."""

    kind: str
    row_id: int  # orders the kind's rows; never shown to a channel
    at: dt.datetime
    city_id: int | None
    channel_id: int | None  # the channel it was done through (none: the hub's own)
    ref: str | None  # the object's public id, as the channel that made it knows it
    title: str
    status: str | None = None
    amount_fen: int | None = None
    currency: str | None = None
    service_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Before:
    """Where a page ended: items strictly older than this come next."""

    at: dt.datetime
    kind: str
    row_id: int

    @classmethod
    def of(cls, entry: Entry) -> Before:
        return cls(at=entry.at, kind=entry.kind, row_id=entry.row_id)


def sort_key(entry: Entry) -> tuple[dt.datetime, str, int]:
    """The history's order (newest first when reversed)."""
    return (entry.at, entry.kind, entry.row_id)


def older_than(kind: str, at: Any, row_id: Any, before: Before | None) -> ColumnElement[bool]:
    """The SQL condition for a kind's rows that come after `before` in the history's order."""
    if before is None:
        return true()
    if kind < before.kind:
        return cast("ColumnElement[bool]", at <= before.at)
    if kind > before.kind:
        return cast("ColumnElement[bool]", at < before.at)
    return or_(at < before.at, and_(at == before.at, row_id < before.row_id))
