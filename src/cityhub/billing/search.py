"""Reading a city's payments as the console does: a search by date range, channel, service,
status, payment number or bill account, and a period's figures computed by the database (SQL
aggregates over every payment of the period, not a capped list read into Python).

A bill's account is stored as the biller gave it (it is the biller's reference, not personal
data the hub encrypts), so an account is searched by equality on `bills.account`, which the
index `ix_bills_city_account` serves within the city.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import Bill, Payment, PaymentStatus
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.billing.service import PaymentView

# What the figures count as paid: confirmed by the channel, or accepted by the biller.
PAID = (PaymentStatus.CONFIRMED, PaymentStatus.COMPLETED)


def status_clause(status: PaymentStatus, now: dt.datetime | None = None) -> ColumnElement[bool]:
    """The payments that read as `status`: a quote past its expiry reads as expired."""
    moment = now or utcnow()
    if status == PaymentStatus.EXPIRED:
        return (Payment.status == PaymentStatus.EXPIRED) | (
            (Payment.status == PaymentStatus.QUOTED) & (Payment.quote_expires_at <= moment)
        )
    if status == PaymentStatus.QUOTED:
        return (Payment.status == status) & (Payment.quote_expires_at > moment)
    return Payment.status == status


@dataclass(frozen=True)
class PaymentSearch:
    """What the console searches payments by; every field is optional. `start`/`end` bound
    the payment's creation (end exclusive), `payment_id` is the public number, `account` the
    bill's account exactly as the biller writes it."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    channel_id: int | None = None
    service_id: int | None = None
    status: PaymentStatus | None = None
    payment_id: str | None = None
    account: str | None = None


async def search(
    *, session: AsyncSession, city_id: int, search_in: PaymentSearch, limit: int = 100
) -> list[PaymentView]:
    """The city's payments that match, newest first."""
    from cityhub.billing import service  # service reads its status filter from here

    query = (
        select(Payment, Bill)
        .join(Bill, Bill.id == Payment.bill_id)
        .where(Payment.city_id == city_id, Bill.city_id == city_id)
        .order_by(Payment.id.desc())
        .limit(limit)
    )
    if search_in.start is not None:
        query = query.where(Payment.created_at >= search_in.start)
    if search_in.end is not None:
        query = query.where(Payment.created_at < search_in.end)
    if search_in.channel_id is not None:
        query = query.where(Payment.channel_id == search_in.channel_id)
    if search_in.service_id is not None:
        query = query.where(Payment.service_id == search_in.service_id)
    if search_in.status is not None:
        query = query.where(status_clause(search_in.status))
    if search_in.payment_id:
        query = query.where(Payment.public_id == search_in.payment_id)
    if search_in.account:
        query = query.where(Bill.account == search_in.account)
    rows = [(p, b) for p, b in (await session.execute(query)).all()]
    return await service.views_of(session=session, city_id=city_id, rows=rows)


@dataclass(frozen=True)
class Figures:
    """Paid payments of a period: how many, how much, and how much per service and channel
    (ids, largest first)."""

    count: int = 0
    amount_fen: int = 0
    by_service: list[tuple[int, int]] = field(default_factory=list)
    by_channel: list[tuple[int, int]] = field(default_factory=list)


async def figures(
    *, session: AsyncSession, city_id: int, start: dt.datetime, end: dt.datetime
) -> Figures:
    """The payments confirmed in [start, end) and still standing (confirmed or completed),
    counted and summed by the database."""
    where: list[Any] = [
        Payment.city_id == city_id,
        Payment.confirmed_at >= start,
        Payment.confirmed_at < end,
        Payment.status.in_(PAID),
        Payment.sandbox.is_(False),  # the sandbox's payments are in no city's figures
    ]
    count, amount = (
        await session.execute(
            select(func.count(Payment.id), func.coalesce(func.sum(Payment.amount_fen), 0)).where(
                *where
            )
        )
    ).one()
    grouped: dict[str, list[tuple[int, int]]] = {}
    for name, column in (("service", Payment.service_id), ("channel", Payment.channel_id)):
        total = func.sum(Payment.amount_fen)
        rows = await session.execute(
            select(column, total).where(*where).group_by(column).order_by(total.desc(), column)
        )
        grouped[name] = [(int(key), int(fen)) for key, fen in rows.all()]
    return Figures(
        count=int(count),
        amount_fen=int(amount or 0),
        by_service=grouped["service"],
        by_channel=grouped["channel"],
    )


async def moved_between(
    *, session: AsyncSession, city_id: int, start: dt.datetime, end: dt.datetime
) -> int:
    """How many payments moved money in [start, end): confirmed by a channel, accepted or
    refused by a biller (none: the period has nothing to settle or reconcile)."""
    found = await session.scalar(
        select(func.count(Payment.id)).where(
            Payment.city_id == city_id,
            Payment.sandbox.is_(False),
            ((Payment.confirmed_at >= start) & (Payment.confirmed_at < end))
            | ((Payment.completed_at >= start) & (Payment.completed_at < end))
            | ((Payment.failed_at >= start) & (Payment.failed_at < end)),
        )
    )
    return int(found or 0)
