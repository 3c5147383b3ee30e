"""A channel reads its webhook delivery log and has an event sent again (a replay).

A replay sends the original event (same id, type, body) once more, signed afresh, from the
outbox like any delivery; it is possible while the hub keeps the event (see `cityhub outbox
prune`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import exists, select

from cityhub import outbox
from cityhub.identity.deps import CurrentChannel
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound
from cityhub.platform.paging import Page, PageDep
from cityhub.webhooks import WebhookDelivery, deliver

REPLAY = "webhook.replay"
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
EventId = Annotated[str, Path(max_length=36, description="the event's id (CityHub-Event-Id)")]


class DeliveryRead(BaseModel):
    id: int
    event_id: str
    topic: str
    url: str
    status_code: int | None
    error: str | None
    at: dt.datetime


class ReplayRead(BaseModel):
    event_id: str
    topic: str
    queued: bool


@router.get(
    "/deliveries",
    operation_id="listWebhookDeliveries",
    summary="List webhook deliveries",
    response_model=Page[DeliveryRead],
)
async def list_deliveries(
    session: SessionDep,
    caller: CurrentChannel,
    page: PageDep,
    event_id: Annotated[str | None, Query(max_length=36, description="one event only")] = None,
) -> Page[DeliveryRead]:
    """Every attempt to deliver a webhook to the calling channel, newest first."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.channel_id == caller.channel.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(page.limit)
    )
    if event_id:
        query = query.where(WebhookDelivery.event_id == event_id)
    if page.after:
        query = query.where(WebhookDelivery.id < page.after)
    rows = (await session.scalars(query)).all()
    items = [
        DeliveryRead(
            id=r.id,
            event_id=r.event_id,
            topic=r.topic,
            url=r.url,
            status_code=r.status_code,
            error=r.error,
            at=r.at,
        )
        for r in rows
    ]
    return page.page(items, rows[-1].id if rows else None)


@router.post(
    "/events/{event_id}/replay",
    operation_id="replayWebhookEvent",
    summary="Replay a webhook event",
    status_code=202,
    response_model=ReplayRead,
)
async def replay(session: SessionDep, caller: CurrentChannel, event_id: EventId) -> ReplayRead:
    """Send one of the channel's events again (with its original id, so a channel that did
    get it the first time can drop it)."""
    event = await session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
    ours = event is not None and int(event.payload.get("channel_id") or 0) == caller.channel.id
    if not ours:
        tried = await session.scalar(
            select(
                exists().where(
                    WebhookDelivery.channel_id == caller.channel.id,
                    WebhookDelivery.event_id == event_id,
                )
            )
        )
        detail = "the hub no longer keeps this event" if tried else f"no event {event_id!r}"
        raise NotFound(detail, code="event_not_found")
    assert event is not None
    await outbox.enqueue(
        session=session,
        topic=REPLAY,
        city_id=event.city_id,
        payload={"channel_id": caller.channel.id, "event_id": event_id},
    )
    return ReplayRead(event_id=event_id, topic=event.topic, queued=True)


@registry.on(REPLAY, "webhook")
async def send_again(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Deliver the original event once more."""
    async with ctx.db.unit_of_work() as session:
        original = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.event_id == event.payload["event_id"])
        )
    if original is None:
        return  # pruned since the replay was asked for
    await deliver(ctx, original)
