"""The city's usage figures, computed by the database over the whole period.

Every domain gives its usage facts as a SELECT of its own (`usage_facts`, the columns of
`platform.facts.COLUMNS`); they are UNIONed here and each published table is one GROUP BY
over them, counting distinct people, uses, successful uses and fees. Then `suppression`
decides what may be published. The day is the city's: UTC moved by the city's offset from
UTC now (exact for the cities of China, which keep one offset all year).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from cityhub.appointments import personal as appointments
from cityhub.billing import personal as billing
from cityhub.cities import service as cities
from cityhub.figures.suppression import THRESHOLD, Cell, Key, Table, suppress
from cityhub.identity import sandbox
from cityhub.identity import service as identity
from cityhub.lottery import service as lottery
from cityhub.platform.clock import utcnow
from cityhub.platform.facts import local_day
from cityhub.requests import service as requests

if TYPE_CHECKING:
    from cityhub.cities.models import City

DIMS = ("day", "pillar", "service", "channel", "district")
# The published tables: the full breakdown and the margins a reader would otherwise add up.
TABLES: tuple[tuple[str, ...], ...] = (
    DIMS,
    ("pillar", "service", "channel"),
    ("pillar", "service"),
    ("channel",),
    ("district",),
    ("day",),
    (),
)


def offset_minutes(timezone: str, at: dt.datetime | None = None) -> int:
    """The city's offset from UTC now, in minutes."""
    moment = (at or utcnow()).astimezone(ZoneInfo(timezone))
    offset = moment.utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def facts(city_id: int) -> Subquery:
    """Every domain's usage facts of the city, as one subquery; what test credentials did (the
    sandbox's, `identity/sandbox.py`) is no part of them."""
    every = union_all(
        billing.usage_facts(city_id=city_id),
        appointments.usage_facts(city_id=city_id),
        lottery.usage_facts(city_id=city_id),
        requests.usage_facts(city_id=city_id),
    ).subquery("every_fact")
    live = or_(every.c.channel_id.is_(None), every.c.channel_id.not_in(sandbox.test_channel_ids()))
    return select(*every.c).where(live).subquery("facts")


def _columns(f: Subquery, offset: int) -> dict[str, Any]:
    return {
        "day": local_day(f.c.at, literal(offset, Integer)),
        "pillar": f.c.pillar,
        "service": f.c.service_id,
        "channel": f.c.channel_id,
        "district": f.c.district,
    }


async def raw_tables(*, session: AsyncSession, city: City) -> list[Table]:
    """Each published table as the database counts it, nothing suppressed yet (ids, not
    names, in the keys)."""
    f = facts(city.id)
    columns = _columns(f, offset_minutes(city.timezone))
    tables = []
    for dims in TABLES:
        keys = [columns[d].label(d) for d in dims]
        query = select(
            *keys,
            func.count(func.distinct(f.c.person)).label("people"),
            func.count().label("uses"),
            func.coalesce(func.sum(f.c.ok), 0).label("successes"),
            func.coalesce(func.sum(f.c.fee_fen), 0).label("fee_fen"),
        )
        if dims:
            query = query.group_by(*(columns[d] for d in dims))
        table = Table(dims=dims)
        for row in await session.execute(query):
            key: Key = tuple(row[: len(dims)])
            people, uses, successes, fee = row[len(dims) :]
            if uses:
                table.cells[key] = Cell(int(people), int(uses), int(successes), int(fee))
        tables.append(table)
    return tables


@dataclass(frozen=True)
class Published:
    """The city's figures as they may be published: tables with names in their keys."""

    city: str
    generated_at: dt.datetime
    threshold: int
    tables: list[Table]
    raw: list[Table]  # the same cells, keyed by ids


async def published(*, session: AsyncSession, city: City) -> Published:
    """The city's tables, suppressed, with service codes and channel slugs in their keys."""
    tables = await raw_tables(session=session, city=city)
    suppress(tables, THRESHOLD)
    services = dict(await cities.service_codes(session=session, city_id=city.id))
    channel_ids = {
        k[t.dims.index("channel")] for t in tables if "channel" in t.dims for k in t.cells
    }
    channels = await identity.get_channels_by_id(
        session=session, channel_ids={int(c) for c in channel_ids if c is not None}
    )
    slugs = {i: c.slug for i, c in channels.items()}
    named = [
        Table(
            dims=t.dims,
            cells={_named(t.dims, k, services, slugs): c for k, c in t.cells.items()},
        )
        for t in tables
    ]
    return Published(city.slug, utcnow(), THRESHOLD, named, tables)


def _named(
    dims: tuple[str, ...], key: Key, services: dict[int, str], channels: dict[int, str]
) -> Key:
    named: list[str | int | None] = []
    for dim, value in zip(dims, key, strict=True):
        if dim == "service" and value is not None:
            named.append(services.get(int(value), str(value)))
        elif dim == "channel" and value is not None:
            named.append(channels.get(int(value), str(value)))
        else:
            named.append(value)
    return tuple(named)
