"""Routes of a channel's self-service on itself: its webhook URL, its secrets and its deep links
(rules in self_service.py). Every route acts on the calling channel only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from cityhub.identity import self_service
from cityhub.identity import service as identity
from cityhub.identity.deps import CurrentChannel, VaultDep
from cityhub.identity.models import Channel
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.outbound import OutboundPolicy

router = APIRouter(prefix="/v1/channel", tags=["channel self-service"])
WEEK = 7 * 86_400


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WebhookIn(_Input):
    url: str | None = Field(
        max_length=400, description="where the hub POSTs events (none: no webhooks)"
    )


class WebhookRead(BaseModel):
    url: str | None
    has_secret: bool = Field(description="whether deliveries are signed (a secret was set)")
    old_secret_until: dt.datetime | None = Field(
        description="while a rotated webhook secret still signs deliveries too"
    )


class RotationIn(_Input):
    overlap_seconds: Annotated[StrictInt, Field(ge=0, le=WEEK)] = Field(
        default=86_400, description="how long the old secret keeps working (at most a week)"
    )


class RotationRead(BaseModel):
    secret: str = Field(description="the new secret: shown this once, never again")
    old_secret_until: dt.datetime = Field(description="when the old secret stops working")


class LinksIn(_Input):
    templates: dict[str, Annotated[str, Field(min_length=1, max_length=400)]] = Field(
        max_length=10,
        description="per service kind (bill, appointment, lottery, request, ...), a URL into "
        "the channel's app naming {city}, {service}, {id}, {notice}",
    )


class LinksRead(BaseModel):
    templates: dict[str, str]


def _webhook_read(channel: Channel) -> WebhookRead:
    live = identity.old_secret_live(channel.old_webhook_secret_until)
    return WebhookRead(
        url=channel.webhook_url,
        has_secret=channel.webhook_secret_enc is not None,
        old_secret_until=channel.old_webhook_secret_until if live else None,
    )


@router.get(
    "/webhook",
    response_model=WebhookRead,
    operation_id="getChannelWebhook",
    summary="Read the channel's webhook URL",
)
async def get_webhook(caller: CurrentChannel) -> WebhookRead:
    """Where the calling channel's webhooks go, and whether a rotation is under way."""
    return _webhook_read(caller.channel)


@router.put(
    "/webhook",
    response_model=WebhookRead,
    operation_id="setChannelWebhook",
    summary="Change the channel's webhook URL",
)
async def set_webhook(
    session: SessionDep, caller: CurrentChannel, settings: SettingsDep, webhook_in: WebhookIn
) -> WebhookRead:
    """Point the webhooks elsewhere (checked like every outbound URL: no internal host);
    audited."""
    channel = await self_service.set_webhook_url(
        session=session,
        channel=caller.channel,
        url=webhook_in.url,
        outbound=OutboundPolicy.from_settings(settings),
    )
    return _webhook_read(channel)


@router.post(
    "/client-secret/rotations",
    status_code=201,
    response_model=RotationRead,
    operation_id="rotateClientSecret",
    summary="Rotate the client secret",
)
async def rotate_client_secret(
    session: SessionDep, caller: CurrentChannel, rotation_in: RotationIn | None = None
) -> RotationRead:
    """A new client secret, shown once; the old one keeps working for `overlap_seconds`.
    No `Idempotency-Key`: the hub keeps no copy of the answer (see docs/api.md)."""
    overlap = dt.timedelta(seconds=(rotation_in or RotationIn()).overlap_seconds)
    secret, until = await self_service.rotate_client_secret(
        session=session, channel=caller.channel, overlap=overlap
    )
    return RotationRead(secret=secret, old_secret_until=until)


@router.post(
    "/webhook-secret/rotations",
    status_code=201,
    response_model=RotationRead,
    operation_id="rotateWebhookSecret",
    summary="Rotate the webhook secret",
)
async def rotate_webhook_secret(
    session: SessionDep,
    caller: CurrentChannel,
    vault: VaultDep,
    rotation_in: RotationIn | None = None,
) -> RotationRead:
    """A new webhook secret, shown once; until `old_secret_until` every delivery is signed
    with both (two `v1=` in `CityHub-Signature`), so no delivery fails either receiver."""
    overlap = dt.timedelta(seconds=(rotation_in or RotationIn()).overlap_seconds)
    secret, until = await self_service.rotate_webhook_secret(
        session=session, vault=vault, channel=caller.channel, overlap=overlap
    )
    return RotationRead(secret=secret, old_secret_until=until)


@router.get(
    "/links",
    response_model=LinksRead,
    operation_id="getChannelLinks",
    summary="Read the channel's deep-link templates",
)
async def get_links(caller: CurrentChannel) -> LinksRead:
    """The links into the channel's app that its users' notices carry, per service kind."""
    return LinksRead(templates=dict(caller.channel.link_templates or {}))


@router.put(
    "/links",
    response_model=LinksRead,
    operation_id="setChannelLinks",
    summary="Set the channel's deep-link templates",
)
async def set_links(session: SessionDep, caller: CurrentChannel, links_in: LinksIn) -> LinksRead:
    """Replace the templates: pushes, reminders and results to the channel's users then link
    into its app (a kind without one carries no link); audited."""
    channel = await self_service.set_link_templates(
        session=session, channel=caller.channel, templates=links_in.templates
    )
    return LinksRead(templates=dict(channel.link_templates or {}))
