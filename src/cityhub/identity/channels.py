"""Managing channels (the operator): register, change scopes, status, name and webhook.

A channel's scopes bound what its tokens may carry: a scope taken away stops working at once,
even in tokens issued before (the token's scopes are intersected with the channel's on every
call); a suspended channel gets no token and its tokens stop working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit, security
from cityhub.identity import service as identity
from cityhub.identity.models import Channel, ChannelStatus
from cityhub.identity.pii import Vault
from cityhub.platform.errors import Conflict, Unprocessable
from cityhub.platform.outbound import OutboundPolicy, check_url
from cityhub.platform.texts import translations


def check_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes, sorted and once each, if every one is known; else Unprocessable."""
    unknown = set(scopes) - set(security.SCOPES)
    if unknown:
        raise Unprocessable(
            f"unknown scopes: {', '.join(sorted(unknown))} (known: {', '.join(security.SCOPES)})",
            code="unknown_scope",
            field="scopes",
        )
    return sorted(set(scopes))


async def create(
    *,
    session: AsyncSession,
    vault: Vault,
    actor: audit.Actor,
    slug: str,
    name: str,
    scopes: Sequence[str],
    webhook_url: str | None,
    outbound: OutboundPolicy,
    names: Mapping[Any, str] | None = None,
) -> tuple[Channel, str, str]:
    """A new channel; its client secret and webhook secret, shown once."""
    if await session.scalar(select(Channel.id).where(Channel.slug == slug)) is not None:
        raise Conflict(f"channel {slug!r} exists", code="channel_exists", field="slug")
    secret, hook_secret = security.new_secret(), security.new_secret()
    channel = await identity.create_channel(
        session=session,
        vault=vault,
        slug=slug,
        name=name,
        names=names,
        client_id=f"ch_{slug}",
        client_secret=secret,
        secret_hash=await security.hash_password_async(secret),
        scopes=check_scopes(scopes),
        webhook_url=webhook_url,
        webhook_secret=hook_secret,
        outbound=outbound,
    )
    await audit.append(
        session=session,
        actor=actor,
        action="channel.create",
        object_type="channel",
        object_id=slug,
        details={"scopes": channel.scopes.split()},
    )
    return channel, secret, hook_secret


async def update(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    channel: Channel,
    name: str | None = None,
    names: Mapping[Any, str] | None = None,
    scopes: Sequence[str] | None = None,
    status: ChannelStatus | None = None,
    webhook_url: str | None = None,
    outbound: OutboundPolicy,
) -> Channel:
    """Apply what was given (`status: suspended` disables the channel)."""
    changes: dict[str, object] = {}
    if name is not None:
        channel.name = changes["name"] = name
    if names is not None:
        channel.names = changes["names"] = translations(names)
    if scopes is not None:
        channel.scopes = " ".join(check_scopes(scopes))
        changes["scopes"] = channel.scopes.split()
    if status is not None:
        channel.status = status
        changes["status"] = status.value
    if webhook_url is not None:
        if webhook_url:
            await check_url(webhook_url, policy=outbound, field="webhook_url")
        channel.webhook_url = webhook_url or None
        changes["webhook_url"] = bool(webhook_url)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="channel.update",
        object_type="channel",
        object_id=channel.slug,
        details=changes,
    )
    return channel
