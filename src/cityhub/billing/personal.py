"""A person's payments as their history lists them, and the payments behind the city's
usage figures (billing's part of `platform.timeline` and `platform.facts`; `service.py` is
full)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, and_, case, literal_column, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import Payment, PaymentStatus
from cityhub.identity import service as identity
from cityhub.platform import timeline
from cityhub.platform.facts import millis_between

# A payment is attempted once the channel confirmed it (a quote never confirmed is not one).
ATTEMPTED = (
    PaymentStatus.CONFIRMED,
    PaymentStatus.COMPLETED,
    PaymentStatus.FAILED,
    PaymentStatus.REFUNDED,
)
SUCCEEDED = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)


async def payments_of(
    *,
    session: AsyncSession,
    city_ids: Sequence[int],
    users: Sequence[tuple[int, str]],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The payments these channel users (one person's) made in these cities, newest first."""
    if not users or not city_ids:
        return []
    pairs = or_(*(and_(Payment.channel_id == c, Payment.user_id == u) for c, u in users))
    rows = await session.scalars(
        select(Payment)
        .where(
            Payment.city_id.in_(city_ids),
            pairs,
            Payment.status != PaymentStatus.QUOTED,
            timeline.older_than("payment", Payment.created_at, Payment.id, before),
        )
        .order_by(Payment.created_at.desc(), Payment.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="payment",
            row_id=p.id,
            at=p.created_at,
            city_id=p.city_id,
            channel_id=p.channel_id,
            ref=p.public_id,
            title="payment",
            status=PaymentStatus(p.status).value,
            amount_fen=p.total_fen,
            currency=p.currency,
            service_id=p.service_id,
            details={"fee_fen": p.fee_fen, "refunded_fen": p.refunded_fen},
        )
        for p in rows
    ]


def usage_facts(*, city_id: int) -> Select[Any]:
    """The city's attempted payments as usage facts (`platform.facts.COLUMNS`); the latency
    is the biller's answer: confirmation to completion."""
    people = identity.channel_user_persons()
    ok = Payment.status.in_(SUCCEEDED)
    return (
        select(
            literal_column("'payments'", String).label("pillar"),
            Payment.service_id.label("service_id"),
            Payment.channel_id.label("channel_id"),
            null().cast(String).label("district"),
            people.c.resident_id.label("person"),
            Payment.created_at.label("at"),
            case((ok, 1), else_=0).label("ok"),
            millis_between(Payment.confirmed_at, Payment.completed_at).label("latency_ms"),
            case((ok, Payment.fee_fen), else_=0).label("fee_fen"),
        )
        .outerjoin(
            people,
            and_(people.c.channel_id == Payment.channel_id, people.c.user_id == Payment.user_id),
        )
        .where(Payment.city_id == city_id, Payment.status.in_(ATTEMPTED))
        .where(Payment.sandbox.is_(False))  # the sandbox's payments are no city's figures
    )
