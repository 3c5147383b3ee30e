"""Signed webhooks to channels, carried out from the outbox, with a log of every attempt.

A channel verifies `CityHub-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">` with its
webhook secret, rejects old timestamps, and de-duplicates on `CityHub-Event-Id` (a delivery is
at least once: a retry after a lost answer sends the same event again).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import structlog
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, BigId, utcnow
from cityhub.identity.models import Channel
from cityhub.identity.pii import Vault
from cityhub.outbox import HandlerContext, OutboxEvent, registry

log = structlog.get_logger("cityhub.webhooks")

# Events a channel is told about; each carries the channel's id in its payload.
CHANNEL_TOPICS = ("grant.created", "grant.revoked", "consent.withdrawn", "resident.verified")


class WebhookDelivery(Base):
    """One attempt to deliver an event to a channel."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_channel", "channel_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    topic: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(400))
    status_code: Mapped[int | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The `CityHub-Signature` header value for a body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """Whether a signature header is valid and recent (what a channel runs on receipt)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), header)


def envelope(event: OutboxEvent) -> dict[str, Any]:
    """The JSON a channel receives for an event."""
    return {
        "id": event.event_id,
        "type": event.topic,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


async def deliver(ctx: HandlerContext, event: OutboxEvent) -> None:
    """POST the event to its channel's webhook URL; a failure raises so the outbox retries."""
    channel = await ctx.session.get(Channel, event.payload["channel_id"])
    if channel is None or not channel.webhook_url or channel.webhook_secret_enc is None:
        return
    secret = Vault.from_settings(ctx.settings).decrypt(channel.webhook_secret_enc)
    body = json.dumps(envelope(event), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "CityHub-Event-Id": event.event_id,
        "CityHub-Event-Type": event.topic,
        "CityHub-Signature": signature(secret, body, int(time.time())),
    }
    attempt = WebhookDelivery(
        channel_id=channel.id, event_id=event.event_id, topic=event.topic, url=channel.webhook_url
    )
    try:
        response = await ctx.http.post(channel.webhook_url, content=body, headers=headers)
        attempt.status_code = response.status_code
        response.raise_for_status()
    except Exception as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:2000]
        # The handler's transaction rolls back on failure: log the attempt on its own.
        async with ctx.db.unit_of_work() as session:
            session.add(attempt)
        raise
    ctx.session.add(attempt)


for _topic in CHANNEL_TOPICS:
    registry.on(_topic, "webhook")(deliver)
