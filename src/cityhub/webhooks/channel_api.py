"""A channel lists the event types it may receive and has a test event sent to its webhook."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cityhub import outbox
from cityhub.identity.deps import CurrentChannel
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Conflict
from cityhub.webhooks import CHANNEL_TOPICS

router = APIRouter(prefix="/v1/channel", tags=["channel self-service"])
TEST = "webhook.test"
# What each event says; `notices.batch` is the notices' own (see notices/delivery.py).
MEANINGS = {
    "grant.created": "the city granted the channel a service",
    "grant.revoked": "the city took a service grant back",
    "consent.withdrawn": "a user withdrew a consent given to the channel",
    "resident.verified": "a user's identity was checked",
    "resident.linked": "a user was linked to a person the hub knows",
    "resident.cross_channel_action": "a linked person acted through another channel",
    "payment.completed": "the biller accepted a payment",
    "payment.failed": "the biller refused a payment for good: refund the user",
    "refund.succeeded": "a refund was made: pay the user back",
    "appointment.offered": "a waitlisted place was offered to a user",
    "webhook.test": "a test event the channel asked for",
    "refund_request.declined": "the city's staff or the biller declined a refund request",
    "notices.batch": "notices for the channel's users to show in its app",
}


class EventTypeRead(BaseModel):
    type: str
    description: str


class TestEventRead(BaseModel):
    event_id: str = Field(description="the CityHub-Event-Id the delivery will carry")
    type: str
    queued: bool


@router.get(
    "/event-types",
    response_model=list[EventTypeRead],
    operation_id="listEventTypes",
    summary="List the webhook event types",
)
async def list_event_types(caller: CurrentChannel) -> list[EventTypeRead]:
    """Every event type a channel's webhook may receive, and what it means."""
    names = (*CHANNEL_TOPICS, "notices.batch")
    return [EventTypeRead(type=t, description=MEANINGS.get(t, t)) for t in names]


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
