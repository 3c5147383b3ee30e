"""Test credentials: a channel's sandbox twin.

A live channel asks for test credentials once: the hub makes a second channel row, mode
`test`, tied to the live one by `live_channel_id`, with its own client id (`test_<slug>`),
client secret and webhook secret. Every request of its tokens runs in test mode
(`platform/sandbox.py`): its connectors are the sandbox's simulators, never a live provider;
what it creates is keyed by its own channel id, so live tokens never see it and it never
sees live rows; figures, counters and settlement leave it out. It may offer what the city
granted the live channel (`grant_holder`), no more.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit, security
from cityhub.identity import service as identity
from cityhub.identity.models import Channel
from cityhub.identity.pii import Vault
from cityhub.platform import cache, sandbox
from cityhub.platform.errors import Conflict, Forbidden

CLIENT_PREFIX = "test_"
SLUG_SUFFIX = "-test"


def is_test(channel: Channel) -> bool:
    """Whether the channel is test credentials (the sandbox's)."""
    return channel.mode == sandbox.TEST


def test_channel_ids() -> Select[int]:
    """The ids of every test channel, as a subquery other domains' figures leave out."""
    return select(Channel.id).where(Channel.mode == sandbox.TEST)


async def grant_holder(*, session: AsyncSession, channel_id: int) -> int:
    """The channel whose grants apply to this one: the live channel of test credentials,
    else the channel itself."""

    async def load() -> int:
        found = await session.scalar(
            select(Channel.live_channel_id).where(Channel.id == channel_id)
        )
        return int(found) if found else channel_id

    return await cache.cached(session, "channel", ("grant_holder", channel_id), load)


async def get_test_channel(*, session: AsyncSession, channel: Channel) -> Channel | None:
    """The live channel's test credentials, if it has asked for them."""
    return await session.scalar(select(Channel).where(Channel.live_channel_id == channel.id))


async def create(
    *, session: AsyncSession, vault: Vault, channel: Channel
) -> tuple[Channel, str, str]:
    """The live channel's test credentials, their client secret and webhook secret (shown
    once). Once only: a second request is a conflict (rotate the test secret with a test
    token, as any channel rotates its own)."""
    if is_test(channel):
        raise Forbidden(
            "these are test credentials already; ask with the live channel's token",
            code="test_credentials",
        )
    slug = f"{channel.slug[: 40 - len(SLUG_SUFFIX)]}{SLUG_SUFFIX}"
    client_id = f"{CLIENT_PREFIX}{channel.slug}"
    taken = await session.scalar(
        select(Channel.id).where((Channel.live_channel_id == channel.id) | (Channel.slug == slug))
    )
    if taken is not None:
        raise Conflict(
            f"channel {channel.slug!r} has test credentials already (client id {client_id})",
            code="sandbox_exists",
        )
    secret, hook_secret = security.new_secret(), security.new_secret()
    twin = await identity.create_channel(
        session=session,
        vault=vault,
        slug=slug,
        name=f"{channel.name} (test)"[:120],
        kind=channel.kind,
        client_id=client_id,
        client_secret=secret,
        secret_hash=await security.hash_password_async(secret),
        scopes=channel.scopes.split(),
        webhook_secret=hook_secret,
    )
    # The live channel's webhook URL was checked when it was set; the twin starts with it.
    twin.webhook_url = channel.webhook_url
    twin.mode = sandbox.TEST
    twin.live_channel_id = channel.id
    twin.link_templates = channel.link_templates
    await session.flush()
    await audit.append(
        session=session,
        actor=audit.Actor(type="channel", id=channel.slug, name=channel.name),
        action="channel.create_test_credentials",
        object_type="channel",
        object_id=twin.slug,
        details={"client_id": client_id, "live_channel": channel.slug},
    )
    return twin, secret, hook_secret
