"""Reaching a resident: the channels that may tell them something (active, with a webhook and
the resident's live consent), the resident's user ids there, and their phone.

Lists of residents come in the thousands (a notice's chunk of recipients), so each query takes
them `RESIDENT_BATCH` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cityhub.identity.enums import ChannelStatus
from cityhub.identity.models import Channel, ChannelUser, Consent, Resident

RESIDENT_BATCH = 5000  # ids in one IN list


async def encrypted_values(
    *,
    session: AsyncSession,
    resident_ids: Sequence[int],
    column: InstrumentedAttribute[bytes | None],
) -> dict[int, bytes]:
    """One encrypted column of these residents (`Resident.phone_enc`, `Resident.id_number_enc`),
    for those who have a value, `RESIDENT_BATCH` ids at a time."""
    found: dict[int, bytes] = {}
    ids = list(dict.fromkeys(resident_ids))
    for start in range(0, len(ids), RESIDENT_BATCH):
        rows = await session.execute(
            select(Resident.id, column).where(
                Resident.id.in_(ids[start : start + RESIDENT_BATCH]), column.is_not(None)
            )
        )
        found.update({rid: enc for rid, enc in rows.all() if enc})
    return found


async def encrypted_phones(
    *, session: AsyncSession, resident_ids: Sequence[int]
) -> dict[int, bytes]:
    """The residents' encrypted phone numbers (those who have one), for an SMS."""
    return await encrypted_values(
        session=session, resident_ids=resident_ids, column=Resident.phone_enc
    )


async def reachable_by_webhook(
    *, session: AsyncSession, resident_ids: Sequence[int], channel_ids: Sequence[int], scope: str
) -> list[tuple[int, int]]:
    """(resident, channel) for each resident's user on one of these channels that is active,
    takes webhooks and holds the resident's live consent in `scope`; by resident, then
    channel."""
    if not resident_ids or not channel_ids:
        return []
    consented = exists().where(
        Consent.resident_id == ChannelUser.resident_id,
        Consent.channel_id == ChannelUser.channel_id,
        Consent.scope == scope,
        Consent.withdrawn_at.is_(None),
    )
    found: list[tuple[int, int]] = []
    ids = sorted(set(resident_ids))
    for start in range(0, len(ids), RESIDENT_BATCH):
        rows = await session.execute(
            select(ChannelUser.resident_id, ChannelUser.channel_id)
            .join(Channel, Channel.id == ChannelUser.channel_id)
            .where(
                ChannelUser.resident_id.in_(ids[start : start + RESIDENT_BATCH]),
                Channel.status == ChannelStatus.ACTIVE,
                Channel.webhook_url.is_not(None),
                ChannelUser.channel_id.in_(list(channel_ids)),
                consented,
            )
            .order_by(ChannelUser.resident_id, ChannelUser.channel_id)
            .distinct()
        )
        found += [(resident_id, channel_id) for resident_id, channel_id in rows.all()]
    return found


async def channel_user_ids(
    *, session: AsyncSession, channel_id: int, resident_ids: Sequence[int]
) -> dict[int, str]:
    """The channel's own user id of each of these residents (those it knows), by resident."""
    found: dict[int, str] = {}
    ids = list(dict.fromkeys(resident_ids))
    for start in range(0, len(ids), RESIDENT_BATCH):
        rows = await session.execute(
            select(ChannelUser.resident_id, ChannelUser.channel_user_id).where(
                ChannelUser.channel_id == channel_id,
                ChannelUser.resident_id.in_(ids[start : start + RESIDENT_BATCH]),
            )
        )
        found.update(dict(rows.all()))
    return found
