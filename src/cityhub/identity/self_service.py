"""What a channel changes of itself: its webhook URL, its secrets (rotated with an overlap
window) and the deep links into its app.

A rotation answers the new secret once; the hub keeps only the client secret's argon2 hash and
the webhook secret encrypted (the HMAC needs it back). The old secret keeps working until the
end of the window the channel chose, then is refused (judged on the hub's clock): for the
client secret, a token request with either succeeds meanwhile; for the webhook secret, every
delivery in the window carries a signature by each (`CityHub-Signature: t=...,v1=new,v1=old`),
so a receiver that still holds the old one verifies as well as one that holds the new one. A
second rotation within a window revokes the secret before last at once. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
import re
import string

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.enums import ServiceKind
from cityhub.identity import audit, security
from cityhub.identity.models import Channel
from cityhub.identity.pii import Vault
from cityhub.identity.service import LINK_FIELDS
from cityhub.identity.service import old_secret_live as old_secret_live
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Unprocessable
from cityhub.platform.outbound import OutboundPolicy, check_url

# An app's own scheme (alipays://, weixin://, myapp://) or https; never script or data URLs.
_SCHEME = re.compile(r"^(?!(?:javascript|data|vbscript|file|http):)[a-z][a-z0-9+.-]{1,30}://", re.I)


def _actor(channel: Channel) -> audit.Actor:
    return audit.Actor(type="channel", id=channel.slug, name=channel.name, names=channel.names)


async def set_webhook_url(
    *, session: AsyncSession, channel: Channel, url: str | None, outbound: OutboundPolicy
) -> Channel:
    """Point the channel's webhooks at `url` (None: no webhooks), SSRF-checked as when the
    operator sets it."""
    if url:
        await check_url(url, policy=outbound, field="webhook_url")
    channel.webhook_url = url or None
    await session.flush()
    await audit.append(
        session=session,
        actor=_actor(channel),
        action="channel.webhook_url",
        object_type="channel",
        object_id=channel.slug,
        details={"webhook_url": bool(url)},
    )
    return channel


async def rotate_client_secret(
    *, session: AsyncSession, channel: Channel, overlap: dt.timedelta
) -> tuple[str, dt.datetime]:
    """A new client secret (answered once) and when the old one stops working."""
    secret = security.new_secret()
    until = utcnow() + overlap
    if not old_secret_live(channel.old_secret_until):
        channel.old_secret_hash = channel.client_secret_hash
        channel.old_secret_until = until
    channel.client_secret_hash = await security.hash_password_async(secret)
    until = channel.old_secret_until or until
    await session.flush()
    await audit.append(
        session=session,
        actor=_actor(channel),
        action="channel.rotate_client_secret",
        object_type="channel",
        object_id=channel.slug,
        details={"old_secret_until": until.isoformat()},
    )
    return secret, until


async def rotate_webhook_secret(
    *, session: AsyncSession, vault: Vault, channel: Channel, overlap: dt.timedelta
) -> tuple[str, dt.datetime]:
    """A new webhook secret (answered once) and when deliveries stop being signed with the
    old one too."""
    secret = security.new_secret()
    until = utcnow() + overlap
    if channel.webhook_secret_enc and not old_secret_live(channel.old_webhook_secret_until):
        channel.old_webhook_secret_enc = channel.webhook_secret_enc
        channel.old_webhook_secret_until = until
    channel.webhook_secret_enc = vault.encrypt(secret)
    until = channel.old_webhook_secret_until or until
    await session.flush()
    await audit.append(
        session=session,
        actor=_actor(channel),
        action="channel.rotate_webhook_secret",
        object_type="channel",
        object_id=channel.slug,
        details={"old_secret_until": until.isoformat()},
    )
    return secret, until


def check_link_template(kind: str, template: str) -> str:
    """The template, if it is an app or https URL naming only known fields; else 422."""
    field = f"templates.{kind}"
    if kind not in set(ServiceKind):
        raise Unprocessable(f"no service kind {kind!r}", code="unknown_service_kind", field=field)
    if not _SCHEME.match(template):
        raise Unprocessable(
            "a link template is an https:// or app-scheme URL", code="invalid_link", field=field
        )
    try:
        parts = [(n, f, c) for _t, n, f, c in string.Formatter().parse(template) if n is not None]
    except ValueError:
        raise Unprocessable("unbalanced braces", code="invalid_link", field=field) from None
    unknown = {n for n, _f, _c in parts} - set(LINK_FIELDS)
    if unknown or any(f or c for _n, f, c in parts):
        raise Unprocessable(
            f"name only the fields {', '.join(LINK_FIELDS)}, as {{id}}, no format",
            code="invalid_link",
            field=field,
        )
    return template


async def set_link_templates(
    *, session: AsyncSession, channel: Channel, templates: dict[str, str]
) -> Channel:
    """Replace the channel's deep-link templates (one per service kind)."""
    checked = {k: check_link_template(k, v) for k, v in sorted(templates.items())}
    channel.link_templates = checked or None
    await session.flush()
    await audit.append(
        session=session,
        actor=_actor(channel),
        action="channel.link_templates",
        object_type="channel",
        object_id=channel.slug,
        details={"kinds": sorted(checked)},
    )
    return channel
