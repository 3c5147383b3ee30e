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

import httpx
import structlog
from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.identity import service as identity
from cityhub.identity.pii import Vault
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform.db import Base, BigId, utcnow
from cityhub.platform.outbound import DestinationRefused

log = structlog.get_logger("cityhub.webhooks")

# Events a channel is told about; each carries the channel's id in its payload.
CHANNEL_TOPICS = (
    "grant.created",
    "grant.revoked",
    "consent.withdrawn",
    "resident.verified",
    "resident.linked",
    "resident.cross_channel_action",
    "payment.completed",
    "payment.failed",
    "refund.succeeded",
    "appointment.offered",
    "webhook.test",
    "refund_request.declined",
    "complaint.updated",
    "autodebit.requested",
    "autodebit.failed",
    "autodebit.agreement_changed",
)


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


def signature(secret: str, body: bytes, timestamp: int, *also: str) -> str:
    """The `CityHub-Signature` header value for a body sent at `timestamp`: one `v1=` per
    secret (a rotated secret's old one too, while its window lasts)."""
    macs = ",".join(f"v1={_mac(s, body, timestamp)}" for s in (secret, *also))
    return f"t={timestamp},{macs}"


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """Whether a signature header is valid and recent (what a channel runs on receipt).

    Several `v1=` values may be present (while a secret is rotated); any one that matches will do.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(time.time() - timestamp) > tolerance:
        return False
    expected = _mac(secret, body, timestamp).encode()
    # compare_digest refuses non-ASCII str, which a forged header may well contain: compare bytes.
    return any(hmac.compare_digest(expected, c.encode()) for c in candidates)


def envelope(event: OutboxEvent) -> dict[str, Any]:
    """The JSON a channel receives for an event."""
    return {
        "id": event.event_id,
        "type": event.topic,
        "created_at": event.created_at.isoformat(),
        "data": event.payload,
    }


class WebhookFailed(Exception):
    """The channel did not take the event (a non-2xx answer or no answer); the outbox retries."""


async def deliver(ctx: HandlerContext, event: OutboxEvent) -> None:
    """POST the event to its channel's webhook URL; a failure raises so the outbox retries."""
    # Read the channel in a short transaction of its own: nothing may hold the database (on
    # SQLite, its write lock) while the channel's server takes its time to answer.
    async with ctx.db.unit_of_work() as session:
        channel = await identity.get_channel(
            session=session, channel_id=int(event.payload["channel_id"])
        )
        if channel is None or not channel.webhook_url or channel.webhook_secret_enc is None:
            return
        channel_id, url = channel.id, channel.webhook_url
        secrets = identity.webhook_secrets(channel, Vault.from_settings(ctx.settings))
    body = json.dumps(envelope(event), separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "CityHub-Event-Id": event.event_id,
        "CityHub-Event-Type": event.topic,
        "CityHub-Signature": signature(secrets[0], body, int(time.time()), *secrets[1:]),
    }
    attempt = WebhookDelivery(
        channel_id=channel_id, event_id=event.event_id, topic=event.topic, url=url
    )
    try:
        # The channel wrote the URL: checked and pinned at the connection (SSRF guard).
        response = await ctx.outbound.post(url, content=body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL, DestinationRefused) as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:2000]
    else:
        attempt.status_code = response.status_code
        if not response.is_success:
            attempt.error = f"HTTP {response.status_code}"
    if attempt.error is not None:
        # The handler's transaction rolls back on failure: log the attempt on its own.
        async with ctx.db.unit_of_work() as session:
            session.add(attempt)
        raise WebhookFailed(f"channel {channel_id} webhook: {attempt.error}")
    ctx.session.add(attempt)


for _topic in CHANNEL_TOPICS:
    registry.on(_topic, "webhook")(deliver)
