"""Business counters kept from the outbox as its events are carried out: a payment counts
when its outcome (completed, failed, refunded) is announced, by the worker that announces it,
so the figures are the workers' (whose /metrics Prometheus sums) and each event counts once
per run of its handlers. Channel slugs are read once per process and kept, through the
function the identity domain names (`name_channels`): the platform reads no domain's tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import metrics
from cityhub.platform.db import Database

ChannelSlug = Callable[..., Awaitable[str | None]]  # (*, session, channel_id) -> slug or None

PAYMENT_TOPICS = {
    "payment.completed": "completed",
    "payment.failed": "failed",
    "refund.succeeded": "refunded",
}
_channels: dict[int, str] = {}
_channel_slug: list[ChannelSlug] = []


def name_channels(slug_of: ChannelSlug) -> None:
    """Name the function that gives a channel's slug (the identity domain's service)."""
    _channel_slug[:] = [slug_of]


async def _no_slug(*, session: AsyncSession, channel_id: int) -> str | None:
    return None


async def _channel(db: Database, channel_id: int) -> str:
    if channel_id not in _channels:
        slug_of = _channel_slug[0] if _channel_slug else _no_slug
        async with db.unit_of_work() as session:
            slug = await slug_of(session=session, channel_id=channel_id)
        _channels[channel_id] = slug or str(channel_id)
    return _channels[channel_id]


async def observe(db: Database, topic: str, payload: dict[str, Any]) -> None:
    """Count what the event tells, if it is a business event."""
    status = PAYMENT_TOPICS.get(topic)
    payment = payload.get("payment")
    if status is None or not isinstance(payment, dict):
        return
    channel = await _channel(db, int(payload.get("channel_id") or 0))
    metrics.PAYMENTS.labels(
        str(payment.get("city", "")), channel, str(payment.get("service", "")), status
    ).inc()
