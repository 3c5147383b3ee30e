"""A channel lists the event types it may receive and has a test event sent to its webhook."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub import outbox
from cityhub.identity.deps import CurrentChannel
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Conflict
from cityhub.platform.paging import Page
from cityhub.webhooks.catalogue import DATA

router = APIRouter(prefix="/v1/channel", tags=["channel self-service"])
TEST = "webhook.test"


class EventTypeRead(BaseModel):
    type: str
    description: str


class TestEventRead(BaseModel):
    event_id: str = Field(description="the CityHub-Event-Id the delivery will carry")
    type: str
    queued: bool


@router.get(
    "/event-types",
    response_model=Page[EventTypeRead],
    operation_id="listEventTypes",
    summary="List the webhook event types",
)
async def list_event_types(caller: CurrentChannel) -> Page[EventTypeRead]:
    """Every event type a channel's webhook may receive, and what it means (one page: the
    descriptions are those of the API description's `webhooks` section)."""
    types = [EventTypeRead(type=t, description=d["description"]) for t, d in DATA.items()]
    return Page[EventTypeRead](items=types)


@router.post(
    "/test-events",
    status_code=202,
    response_model=TestEventRead,
    operation_id="sendTestEvent",
    summary="Send a test event to the channel's webhook",
)
async def send_test_event(session: SessionDep, caller: CurrentChannel) -> TestEventRead:
    """Queue a signed `webhook.test` event to the webhook URL; its attempt shows in
    `GET /v1/webhooks/deliveries`."""
    if not caller.channel.webhook_url:
        raise Conflict("the channel has no webhook URL; set one first", code="no_webhook_url")
    event = await outbox.enqueue(
        session=session,
        topic=TEST,
        payload={"channel_id": caller.channel.id, "message": "a test from CityHub"},
    )
    return TestEventRead(event_id=event.event_id, type=TEST, queued=True)
