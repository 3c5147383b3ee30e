"""Staff, their roles and console sessions; channels and their credentials."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import Subquery, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit, security
from cityhub.identity.models import (
    Channel,
    ChannelStatus,
    ChannelUser,
    Consent,
    DataAccess,
    LinkProof,
    Role,
    StaffRole,
    StaffSession,
    StaffUser,
)
from cityhub.identity.pii import Vault
from cityhub.platform import business_metrics, cache, timeline
from cityhub.platform.config import Settings
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unauthorized, Unprocessable
from cityhub.platform.outbound import OutboundPolicy, check_url
from cityhub.platform.texts import translations


async def get_staff_by_username(*, session: AsyncSession, username: str) -> StaffUser | None:
    """The staff member with this username, if any."""
    return await session.scalar(select(StaffUser).where(StaffUser.username == username))


async def create_staff(
    *,
    session: AsyncSession,
    username: str,
    display_name: str,
    password: str,
    roles: Sequence[tuple[int | None, Role]],
    password_hash: str | None = None,
    providers: Mapping[int, str] | None = None,
) -> StaffUser:
    """A staff member with roles as (city id or None for every city, role); `providers` binds
    the provider_staff role in a city (by city id) to the provider the member works for."""
    if await get_staff_by_username(session=session, username=username):
        raise Conflict(f"username {username!r} is taken", code="username_taken", field="username")
    for city_id, role in roles:
        if (city_id is None) != (role == Role.OPERATOR):
            raise Unprocessable(
                "the operator role is for every city; other roles name one city", field="roles"
            )
    staff = StaffUser(
        username=username,
        display_name=display_name,
        password_hash=password_hash or security.hash_password(password),
    )
    session.add(staff)
    await session.flush()
    bound = providers or {}
    session.add_all(
        StaffRole(
            staff_id=staff.id,
            city_id=c,
            role=r,
            provider=bound.get(c) if c is not None and r == Role.PROVIDER_STAFF else None,
        )
        for c, r in roles
    )
    await session.flush()
    return staff


async def roles_of(*, session: AsyncSession, staff_id: int) -> list[StaffRole]:
    """Every role a staff member holds."""
    return list(
        (await session.scalars(select(StaffRole).where(StaffRole.staff_id == staff_id))).all()
    )


async def start_session(
    *, session: AsyncSession, settings: Settings, staff: StaffUser
) -> tuple[str, StaffSession]:
    """A new console session: the cookie token (returned once) and its stored record."""
    token = security.new_secret()
    record = StaffSession(
        token_hash=security.token_digest(token),
        staff_id=staff.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + dt.timedelta(seconds=settings.session_ttl_seconds),
    )
    session.add(record)
    await session.flush()
    return token, record


async def sign_in(
    *, session: AsyncSession, settings: Settings, staff_id: int
) -> tuple[str, StaffSession, StaffUser]:
    """Open a console session for a staff member whose password was just checked
    (`flows.check_staff_password`) and audit it (`staff.sign_in`): the cookie token (returned
    once), the session record and the staff member; Unauthorized if the account was
    deactivated in between."""
    staff = await session.get(StaffUser, staff_id)
    if staff is None or not staff.active:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    staff.last_login_at = utcnow()
    token, record = await start_session(session=session, settings=settings, staff=staff)
    await audit.append(
        session=session,
        actor=audit.Actor(type="staff", id=staff.username, name=staff.display_name),
        action="staff.sign_in",
        object_type="staff",
        object_id=staff.username,
    )
    return token, record, staff


async def get_session_by_token(
    *, session: AsyncSession, token: str
) -> tuple[StaffSession, StaffUser] | None:
    """The live console session of a cookie token and its staff member."""
    row = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == security.token_digest(token))
        )
    ).first()
    if row is None or row[0].expires_at <= utcnow() or not row[1].active:
        return None
    return row[0], row[1]


async def end_session(*, session: AsyncSession, session_id: int) -> None:
    """Sign out: the session's token stops working at once."""
    await session.execute(delete(StaffSession).where(StaffSession.id == session_id))


async def create_channel(
    *,
    session: AsyncSession,
    vault: Vault,
    slug: str,
    name: str,
    client_id: str,
    names: Mapping[Any, str] | None = None,
    client_secret: str,
    scopes: Sequence[str],
    kind: str = "partner",
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    secret_hash: str | None = None,
    outbound: OutboundPolicy | None = None,
) -> Channel:
    """A channel with hashed client secret and encrypted webhook secret. A webhook URL inside
    the hub's network is refused (422 naming `webhook_url`) unless `outbound` allows it."""
    unknown = set(scopes) - set(security.SCOPES)
    if unknown:
        raise Unprocessable(f"unknown scopes: {', '.join(sorted(unknown))}", field="scopes")
    if webhook_url is not None:
        await check_url(webhook_url, policy=outbound or OutboundPolicy(), field="webhook_url")
    channel = Channel(
        slug=slug,
        name=name,
        names=translations(names),
        kind=kind,
        client_id=client_id,
        client_secret_hash=secret_hash or security.hash_password(client_secret),
        scopes=" ".join(sorted(scopes)),
        webhook_url=webhook_url,
        webhook_secret_enc=vault.encrypt(webhook_secret) if webhook_secret else None,
        status=ChannelStatus.ACTIVE,
    )
    session.add(channel)
    await session.flush()
    return channel


async def get_channel_by_slug_or_raise(*, session: AsyncSession, slug: str) -> Channel:
    """The channel with this slug, or NotFound."""
    channel = await session.scalar(select(Channel).where(Channel.slug == slug))
    if channel is None:
        raise NotFound(f"no channel {slug!r}", code="channel_not_found", field="channel")
    return channel


async def get_all_channels(*, session: AsyncSession) -> list[Channel]:
    """Every channel, by name."""
    return list((await session.scalars(select(Channel).order_by(Channel.name))).all())


async def get_active_channel_of_kind(*, session: AsyncSession, kind: str) -> Channel | None:
    """The first active channel of a kind (the hub's own portal channel, kind `portal`)."""
    return await session.scalar(
        select(Channel)
        .where(Channel.kind == kind, Channel.status == ChannelStatus.ACTIVE)
        .order_by(Channel.id)
        .limit(1)
    )


async def get_channel(*, session: AsyncSession, channel_id: int) -> Channel | None:
    """The channel with this id, if any (cached in process: the token check asks on every
    request; `platform/cache.py` drops it when any channel changes)."""
    return await cache.cached_row(
        session, "channel", channel_id, lambda: session.get(Channel, channel_id)
    )


async def get_channels_by_id(*, session: AsyncSession, channel_ids: set[int]) -> dict[int, Channel]:
    """The channels with these ids, by id (those that exist)."""
    if not channel_ids:
        return {}
    found = await session.scalars(select(Channel).where(Channel.id.in_(channel_ids)))
    return {c.id: c for c in found}


async def get_channel_slug(*, session: AsyncSession, channel_id: int) -> str | None:
    """The slug of the channel with this id, if any (what the payment counters are named by)."""
    return await session.scalar(select(Channel.slug).where(Channel.id == channel_id))


business_metrics.name_channels(get_channel_slug)


async def get_channel_by_client_id(*, session: AsyncSession, client_id: str) -> Channel | None:
    """The channel with this OAuth client id, if any."""
    return await session.scalar(select(Channel).where(Channel.client_id == client_id))


def grantable_scopes(channel: Channel, requested: str | None) -> frozenset[str]:
    """The scopes a token may carry: what was asked for (all when nothing was), if allowed."""
    allowed = frozenset(channel.scopes.split())
    if not requested:
        return allowed
    asked = frozenset(requested.split())
    if not asked <= allowed:
        raise Unprocessable(
            f"scopes not allowed for this client: {', '.join(sorted(asked - allowed))}",
            code="invalid_scope",
            field="scope",
        )
    return asked


async def usernames_of(*, session: AsyncSession, staff_ids: Sequence[int]) -> dict[int, str]:
    """The usernames of these staff members (those that exist), by id."""
    if not staff_ids:
        return {}
    rows = await session.execute(
        select(StaffUser.id, StaffUser.username).where(StaffUser.id.in_(list(staff_ids)))
    )
    return dict(rows.all())


def old_secret_live(until: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """Whether a rotated secret is still inside its overlap window."""
    return until is not None and (now or utcnow()) < until


def webhook_secrets(channel: Channel, vault: Vault) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the old one while its
    window lasts."""
    found = [vault.decrypt(channel.webhook_secret_enc)] if channel.webhook_secret_enc else []
    if channel.old_webhook_secret_enc and old_secret_live(channel.old_webhook_secret_until):
        found.append(vault.decrypt(channel.old_webhook_secret_enc))
    return found


# The values a channel's link template may name, each filled URL-encoded.
LINK_FIELDS = ("city", "service", "id", "notice")


def channel_link(channel: Channel, kind: str | None, **values: str) -> str | None:
    """The deep link into the channel's app for an object of a service kind, from the
    template the channel registered (self_service.py); None when it registered none."""
    template = (channel.link_templates or {}).get(kind or "")
    if not template:
        return None
    return str(template).format(**{k: quote(values.get(k, ""), safe="") for k in LINK_FIELDS})


@dataclass(frozen=True)
class PersonLink:
    """One channel's user standing for the person, and whether the link was proven."""

    channel_id: int
    user_id: str
    proven: bool


async def links_of(*, session: AsyncSession, resident_id: int) -> list[PersonLink]:
    """Every channel user linked to the person (a legacy link, on name and number alone, is
    not proven)."""
    rows = await session.execute(
        select(ChannelUser.channel_id, ChannelUser.channel_user_id, ChannelUser.link_proof)
        .where(ChannelUser.resident_id == resident_id)
        .order_by(ChannelUser.id)
    )
    return [PersonLink(c, u, LinkProof(p) != LinkProof.LEGACY) for c, u, p in rows]


async def consents_of(
    *,
    session: AsyncSession,
    resident_id: int,
    channel_ids: set[int],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The person's consents given through these channels, for their history, newest first."""
    rows = await session.scalars(
        select(Consent)
        .where(
            Consent.resident_id == resident_id,
            Consent.channel_id.in_(channel_ids),
            timeline.older_than("consent", Consent.granted_at, Consent.id, before),
        )
        .order_by(Consent.granted_at.desc(), Consent.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="consent",
            row_id=c.id,
            at=c.granted_at,
            city_id=None,
            channel_id=c.channel_id,
            ref=None,
            title=c.scope,
            status="withdrawn" if c.withdrawn_at else "given",
            details={"purpose": c.purpose, "withdrawn_at": c.withdrawn_at},
        )
        for c in rows
    ]


async def channel_accesses_of(
    *,
    session: AsyncSession,
    resident_id: int,
    channel_ids: set[int],
    purpose_prefix: str,
    before: timeline.Before | None,
    kind: str,
    limit: int,
) -> list[tuple[DataAccess, int]]:
    """The person's data-access entries made by these channels for one kind of purpose, with
    the channel's id, newest first (the queries they ran, for their history)."""
    rows = await session.execute(
        select(DataAccess, Channel.id)
        .join(Channel, Channel.slug == DataAccess.actor_id)
        .where(
            DataAccess.resident_id == resident_id,
            DataAccess.actor_type == "channel",
            DataAccess.purpose.startswith(purpose_prefix, autoescape=True),
            Channel.id.in_(channel_ids),
            timeline.older_than(kind, DataAccess.at, DataAccess.id, before),
        )
        .order_by(DataAccess.at.desc(), DataAccess.id.desc())
        .limit(limit)
    )
    return [(access, channel_id) for access, channel_id in rows]


def channel_user_persons() -> Subquery:
    """(channel_id, user_id, resident_id) of every channel user: the person behind a payment
    made by a channel's user, for the city's usage figures (joined in the database)."""
    return select(
        ChannelUser.channel_id,
        ChannelUser.channel_user_id.label("user_id"),
        ChannelUser.resident_id,
    ).subquery("channel_user_persons")
