"""Business counters kept from the outbox as its events are carried out: a payment counts
when its outcome (completed, failed, refunded) is announced, by the worker that announces it,
so the figures are the workers' (whose /metrics Prometheus sums) and each event counts once
per run of its handlers. Channel slugs are read once per process and kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhub.identity.models import Channel
from cityhub.platform import metrics
from cityhub.platform.db import Database

PAYMENT_TOPICS = {
    "payment.completed": "completed",
    "payment.failed": "failed",
    "refund.succeeded": "refunded",
}
_channels: dict[int, str] = {}


async def _channel(db: Database, channel_id: int) -> str:
    if channel_id not in _channels:
        async with db.unit_of_work() as session:
            slug = await session.scalar(select(Channel.slug).where(Channel.id == channel_id))
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
