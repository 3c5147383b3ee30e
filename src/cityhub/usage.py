"""Daily usage counters behind the dashboards, kept from the outbox exactly once per event."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, BigId
from cityhub.outbox import HandlerContext, OutboxEvent, registry


class UsageDaily(Base):
    """How many events of a kind a city saw on a day, per channel (0: none)."""

    __tablename__ = "usage_daily"
    __table_args__ = (UniqueConstraint("city_id", "day", "metric", "channel_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    city_id: Mapped[int] = mapped_column(BigId, ForeignKey("cities.id"))
    day: Mapped[dt.date] = mapped_column()
    metric: Mapped[str] = mapped_column(String(80))
    channel_id: Mapped[int] = mapped_column(BigId, default=0)
    count: Mapped[int] = mapped_column(default=0)


@registry.on("*", "usage")
async def count(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Add the event to its city's counter for the day it happened."""
    if event.city_id is None:
        return
    channel_id = int(event.payload.get("channel_id") or 0)
    key = {
        "city_id": event.city_id,
        "day": event.created_at.date(),
        "metric": event.topic,
        "channel_id": channel_id,
    }
    updated = await ctx.session.execute(
        update(UsageDaily).filter_by(**key).values(count=UsageDaily.count + 1)
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        ctx.session.add(UsageDaily(**key, count=1))


async def totals(*, session: AsyncSession, city_id: int, metric: str) -> int:
    """The all-time count of a metric in a city."""
    rows = await session.scalars(
        select(UsageDaily.count).where(UsageDaily.city_id == city_id, UsageDaily.metric == metric)
    )
    return sum(rows)
