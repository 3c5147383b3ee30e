"""Daily usage counters behind the dashboards, kept from the outbox exactly once per event."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.cities import service as cities
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform import sandbox
from cityhub.platform.db import Base, BigId, TenantMixin

KEY = ("city_id", "day", "metric", "channel_id")


class UsageDaily(TenantMixin, Base):
    """How many events of a kind a city saw on a day (its own day), per channel (0: none)."""

    __tablename__ = "usage_daily"
    __table_args__ = (UniqueConstraint(*KEY),)

    day: Mapped[dt.date] = mapped_column()
    metric: Mapped[str] = mapped_column(String(80))
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    count: Mapped[int] = mapped_column(default=0)


def local_day(moment: dt.datetime, timezone: str | None) -> dt.date:
    """The calendar day a moment falls on in a city's timezone (UTC if it is unknown)."""
    try:
        zone = ZoneInfo(timezone) if timezone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return moment.astimezone(zone).date()


@registry.on("*", "usage")
async def count(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Add the event to its city's counter for the day it happened there."""
    if event.city_id is None or sandbox.of_payload(event.payload) == sandbox.TEST:
        return  # the sandbox's events are never counted in a city's figures
    city = await cities.get_city(session=ctx.session, city_id=event.city_id)
    timezone = city.timezone if city is not None else None
    values = {
        "city_id": event.city_id,
        "day": local_day(event.created_at, timezone),
        "metric": event.topic,
        "channel_id": int(event.payload.get("channel_id") or 0),
        "count": 1,
    }
    # One upsert: two dispatchers counting the same day at once both land, neither fails.
    if ctx.db.is_sqlite:
        lite = sqlite.insert(UsageDaily).values(values)
        await ctx.session.execute(
            lite.on_conflict_do_update(
                index_elements=KEY, set_={"count": UsageDaily.count + lite.excluded.count}
            )
        )
    else:
        pg = postgresql.insert(UsageDaily).values(values)
        await ctx.session.execute(
            pg.on_conflict_do_update(
                index_elements=KEY, set_={"count": UsageDaily.count + pg.excluded.count}
            )
        )


async def between(
    *, session: AsyncSession, city_id: int, metric: str, first: dt.date, last: dt.date
) -> int:
    """The count of a metric in a city over the days `first` to `last` (city time), inclusive."""
    rows = await session.scalars(
        select(UsageDaily.count).where(
            UsageDaily.city_id == city_id,
            UsageDaily.metric == metric,
            UsageDaily.day >= first,
            UsageDaily.day <= last,
        )
    )
    return sum(rows)
