"""Signed webhooks to channels: what a channel receives, how it verifies it, and retries."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from cityhub import outbox, webhooks
from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.models import Channel
from cityhub.outbox import OutboxEvent
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Unprocessable
from cityhub.platform.outbound import OutboundPolicy
from cityhub.webhooks import WebhookDelivery, signature, verify_signature
from tests.cities.factories import create_city, create_service
from tests.identity.factories import create_channel, vault
from tests.outbox_helpers import (
    Receiver,
    drain,
    event,
    free_port,
    handled,
    invoke,
    make_due,
    statuses,
    usage_total,
)
from tests.platform.dns import FakeDns, dns

__all__ = ["dns"]

SECRET = "whsec-channel-secret"
BODY = b'{"id":"e1","type":"grant.created"}'


def test_a_signature_verifies_with_the_channels_secret_only() -> None:
    now = int(time.time())
    header = signature(SECRET, BODY, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature(SECRET, BODY, header)
    assert not verify_signature("another-secret", BODY, header)
    assert not verify_signature(SECRET, BODY + b" ", header)  # the body was tampered with


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_signature_outside_the_tolerance_is_refused(skew: int) -> None:
    header = signature(SECRET, BODY, int(time.time()) + skew)  # replayed, or from the future
    assert not verify_signature(SECRET, BODY, header)
    assert verify_signature(SECRET, BODY, header, tolerance=600)


@pytest.mark.parametrize(
    "header", ["", "garbage", "t=abc,v1=00", "v1=00", "t=1700000000", "t=%(now)s,v1=é"]
)
def test_a_malformed_signature_is_refused_without_an_error(header: str) -> None:
    assert not verify_signature(SECRET, BODY, header % {"now": int(time.time())})


def test_any_of_several_signatures_may_match_while_a_secret_is_rotated() -> None:
    now = int(time.time())
    old, new = signature("old-secret", BODY, now), signature(SECRET, BODY, now)
    both = f"{new},{old.split(',')[1]}"
    assert verify_signature(SECRET, BODY, both) and verify_signature("old-secret", BODY, both)
    assert not verify_signature("third-secret", BODY, both)


async def deliveries(db: Database) -> list[WebhookDelivery]:
    """The delivery log, oldest first."""
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(WebhookDelivery).order_by("id"))).all())


async def test_a_new_grant_reaches_the_channel_as_a_signed_webhook(
    db: Database, settings: Settings
) -> None:
    with Receiver(secret=SECRET) as receiver:
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=SECRET)
        city = await create_city(db)
        service = await create_service(db, city=city)
        async with db.unit_of_work() as session:
            await cities.create_grant(
                session=session,
                actor=audit.Actor.system(),
                city=city,
                channel=login.channel,
                service=service,
                staff_id=None,
            )
            event_id = (await session.scalars(select(OutboxEvent.event_id))).one()
        await drain(db, settings)
    [delivery] = receiver.deliveries
    assert verify_signature(SECRET, delivery.body, delivery.headers["CityHub-Signature"])
    assert delivery.headers["CityHub-Event-Id"] == event_id
    assert delivery.headers["CityHub-Event-Type"] == "grant.created"
    sent = json.loads(delivery.body)
    assert (sent["id"], sent["type"]) == (event_id, "grant.created")
    assert sent["data"] == {
        "channel_id": login.channel.id,
        "city": city.slug,
        "service": service.code,
    }
    [logged] = await deliveries(db)
    assert (logged.event_id, logged.status_code, logged.error) == (event_id, 200, None)
    assert (logged.url, logged.channel_id) == (receiver.url, login.channel.id)
    assert (await event(db, event_id)).status == "done"


async def test_a_refused_delivery_is_logged_and_retried_until_taken(
    db: Database, settings: Settings, hub_clock: Clock
) -> None:
    with Receiver(secret=SECRET, answers=[500, 302]) as receiver:
        city = await create_city(db)
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=SECRET)
        event_id = await enqueue_grant_created(db, city.id, login.channel.id)
        await drain(db, settings)
        first = await event(db, event_id)
        assert (first.status, first.attempts) == ("pending", 1)
        assert first.last_error == f"WebhookFailed: channel {login.channel.id} webhook: HTTP 500"
        for _ in range(2):  # a redirect is not followed: it fails too, then the third is taken
            await make_due(db, hub_clock)
            await drain(db, settings)
        assert receiver.ids() == {event_id: 3}  # the same event id each time: de-duplicable
    logged = await deliveries(db)
    assert [(d.status_code, d.error) for d in logged] == [
        (500, "HTTP 500"),
        (302, "HTTP 302"),
        (200, None),
    ]
    assert {d.event_id for d in logged} == {event_id}
    done = await event(db, event_id)
    assert (done.status, done.attempts) == ("done", 2)
    assert await usage_total(db, "grant.created") == 1  # counted once despite three deliveries


async def test_no_answer_is_a_failure_logged_without_a_status(
    db: Database, settings: Settings
) -> None:
    city = await create_city(db)
    nowhere = f"http://127.0.0.1:{free_port()}/hooks"  # nobody listens there
    login = await create_channel(db, webhook_url=nowhere, webhook_secret=SECRET)
    event_id = await enqueue_grant_created(db, city.id, login.channel.id)
    await drain(db, settings)
    [logged] = await deliveries(db)
    assert logged.status_code is None and logged.error is not None
    assert logged.error.startswith("ConnectError")
    failed = await event(db, event_id)
    assert (failed.status, failed.attempts) == ("pending", 1)
    assert await handled(db) == {}  # usage waits for the webhook: nothing half-done is recorded


async def test_a_slow_channel_times_out_and_is_retried(db: Database, settings: Settings) -> None:
    with Receiver(secret=SECRET, delay=0.5) as receiver:
        city = await create_city(db)
        login = await create_channel(db, webhook_url=receiver.url, webhook_secret=SECRET)
        event_id = await enqueue_grant_created(db, city.id, login.channel.id)
        await drain(db, settings.model_copy(update={"webhook_timeout_seconds": 0.1}))
    [logged] = await deliveries(db)
    assert logged.status_code is None and (logged.error or "").startswith("ReadTimeout")
    assert (await event(db, event_id)).attempts == 1


async def test_a_channel_without_a_webhook_url_gets_nothing_and_the_event_completes(
    db: Database, settings: Settings
) -> None:
    city = await create_city(db)
    login = await create_channel(db)
    event_id = await enqueue_grant_created(db, city.id, login.channel.id)
    await drain(db, settings)
    assert await deliveries(db) == []
    assert await statuses(db) == {"done": 1}
    assert await handled(db) == {(event_id, "webhook"): 1, (event_id, "usage"): 1}


async def enqueue_grant_created(db: Database, city_id: int, channel_id: int) -> str:
    """A committed `grant.created` event for a channel; its id."""
    async with db.unit_of_work() as session:
        created = await outbox.enqueue(
            session=session,
            topic="grant.created",
            city_id=city_id,
            payload={"channel_id": channel_id, "service": "water"},
        )
    return created.event_id


def test_every_channel_topic_is_delivered() -> None:
    registry = outbox.load_handlers()
    for topic in webhooks.CHANNEL_TOPICS:
        assert ("webhook", webhooks.deliver) in registry.for_topic(topic)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/v1/staff/session",
        "http://[::1]/hooks",
        "http://intranet.test/hooks",
    ],
)
async def test_a_webhook_url_inside_the_hub_is_refused_when_it_is_set(
    db: Database, dns: FakeDns, url: str
) -> None:
    dns.answer("intranet.test", ["10.20.30.40"])
    code, output = await invoke(
        db.url, "channels", "create", "prober", "Prober", "--webhook-url", url
    )
    assert code == 1 and "internal address" in output, output
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Channel))).all() == []  # nothing half-written
        with pytest.raises(Unprocessable) as caught:
            await identity.create_channel(
                session=session,
                vault=vault(),
                slug="prober",
                name="Prober",
                client_id="ch_prober",
                client_secret="x",
                scopes=["catalogue:read"],
                webhook_url=url,
            )
    assert (caught.value.code, caught.value.field) == ("url_not_allowed", "webhook_url")


async def test_a_webhook_to_a_name_that_resolves_inside_is_not_delivered(
    db: Database, settings: Settings, dns: FakeDns
) -> None:
    """The URL was accepted (the operator trusted the name then); the delivery is checked
    again, on the address it connects to."""
    settings.connector_allow_hosts = ""
    with Receiver(secret=SECRET) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        dns.answer("hooks.test", ["127.0.0.1"])
        city = await create_city(db)
        async with db.unit_of_work() as session:
            channel = await identity.create_channel(
                session=session,
                vault=vault(),
                slug="hooked",
                name="Hooked",
                client_id="ch_hooked",
                client_secret="x",
                scopes=["catalogue:read"],
                webhook_url=f"http://hooks.test:{port}/hooks",
                webhook_secret=SECRET,
                outbound=OutboundPolicy(frozenset({"hooks.test"})),
            )
        event_id = await enqueue_grant_created(db, city.id, channel.id)
        await drain(db, settings)
        assert receiver.deliveries == []  # nothing reached the address inside
    [logged] = await deliveries(db)
    assert logged.status_code is None and "internal address (127.0.0.1)" in (logged.error or "")
    assert (await event(db, event_id)).status == "pending"  # retried: the operator may allow it
