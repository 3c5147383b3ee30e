"""Open311 `api_key`s: a city issues one to a channel; only its SHA-256 is kept, and a key
acts as that channel (its grants and its requests)."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.enums import ChannelStatus
from cityhub.platform.errors import Forbidden, Unauthorized
from cityhub.requests.models import Open311Key

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.identity.models import Channel

PREFIX = "o311_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue(
    *, session: AsyncSession, actor: audit.Actor, city: City, channel_slug: str
) -> tuple[Open311Key, str, Channel]:
    """A new key for a channel the city granted its request service; the key is answered
    once and never stored."""
    channel = await identity.get_channel_by_slug_or_raise(session=session, slug=channel_slug)
    await require_granted(session=session, city=city, channel_id=channel.id)
    key = PREFIX + secrets.token_urlsafe(24)
    row = Open311Key(city_id=city.id, channel_id=channel.id, key_hash=_hash(key), prefix=key[:10])
    session.add(row)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="requests.api_key.issue",
        object_type="channel",
        object_id=channel.slug,
        city_id=city.id,
        details={"prefix": row.prefix},
    )
    return row, key, channel


async def require_granted(
    *, session: AsyncSession, city: City, channel_id: int, field: str = "api_key"
) -> None:
    """Forbidden (naming `field`) unless the city granted the channel its request service."""
    granted = await cities.get_all_services(
        session=session, city_id=city.id, channel_id=channel_id, kind=ServiceKind.REQUEST
    )
    if not granted:
        raise Forbidden(
            f"{city.slug} did not grant this channel its request service",
            code="service_not_granted",
            field=field,
        )


async def channel_of(*, session: AsyncSession, city: City, api_key: str) -> Channel:
    """The active channel a key of this city belongs to, or 401 naming `api_key`."""
    row = await session.scalar(
        select(Open311Key).where(
            Open311Key.key_hash == _hash(api_key),
            Open311Key.city_id == city.id,
            Open311Key.revoked_at.is_(None),
        )
    )
    channel = (
        await identity.get_channel(session=session, channel_id=row.channel_id) if row else None
    )
    if channel is None or channel.status != ChannelStatus.ACTIVE:
        raise Unauthorized("unknown api_key", code="invalid_api_key", field="api_key")
    await require_granted(session=session, city=city, channel_id=channel.id)
    return channel
