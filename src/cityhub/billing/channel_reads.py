"""What a channel reads of its own money in a city: a payment by its own transaction id, its
settlement batches and the statements it uploaded."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import service as payments
from cityhub.billing.models import ChannelStatement, Payment, SettlementBatch
from cityhub.platform.errors import NotFound


async def get_view_by_txn_or_raise(
    *, session: AsyncSession, city_id: int, channel_id: int, channel_txn_id: str
) -> payments.PaymentView:
    """The channel's payment confirmed with this transaction id of its wallet, or NotFound."""
    public_id = await session.scalar(
        select(Payment.public_id).where(
            Payment.city_id == city_id,
            Payment.channel_id == channel_id,
            Payment.channel_txn_id == channel_txn_id,
        )
    )
    if public_id is None:
        raise NotFound(
            f"no payment with channel_txn_id {channel_txn_id!r}", code="payment_not_found"
        )
    return await payments.get_view_or_raise(
        session=session, city_id=city_id, public_id=public_id, channel_id=channel_id
    )


async def batches(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int,
    day: dt.date | None,
    after: int | None,
    limit: int,
) -> list[SettlementBatch]:
    """The channel's settlement batches in the city, newest first."""
    query = (
        select(SettlementBatch)
        .where(
            SettlementBatch.city_id == city_id,
            SettlementBatch.party == "channel",
            SettlementBatch.party_id == channel_id,
        )
        .order_by(SettlementBatch.id.desc())
        .limit(limit)
    )
    if day is not None:
        query = query.where(SettlementBatch.day == day)
    if after:
        query = query.where(SettlementBatch.id < after)
    return list((await session.scalars(query)).all())


async def statements(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int,
    day: dt.date | None,
    after: int | None,
    limit: int,
) -> list[ChannelStatement]:
    """The statements the channel uploaded in the city, newest first."""
    query = (
        select(ChannelStatement)
        .where(ChannelStatement.city_id == city_id, ChannelStatement.channel_id == channel_id)
        .order_by(ChannelStatement.id.desc())
        .limit(limit)
    )
    if day is not None:
        query = query.where(ChannelStatement.day == day)
    if after:
        query = query.where(ChannelStatement.id < after)
    return list((await session.scalars(query)).all())
