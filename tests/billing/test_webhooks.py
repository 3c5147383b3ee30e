"""Payment webhooks: signed, verifiable with the documented recipe, logged and replayable."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.webhooks import signature
from tests.billing.factories import HOOK_SECRET, events, pay_world
from tests.client import Api
from tests.identity.factories import create_channel
from tests.outbox_helpers import Receiver, drain, make_due
from tests.simulators.fixtures import Sim

DOCS = Path(__file__).parents[2] / "docs" / "payments.md"


def _recipe() -> dict[str, Any]:
    """The verification recipe exactly as docs/payments.md gives it to channels."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### How a channel verifies a webhook", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "the recipe is missing from docs/payments.md"
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), scope)  # noqa: S102 (our own docs)
    return scope


async def test_payment_webhooks_pass_the_documented_recipe_and_fail_it_when_forged_or_old(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    payment = await world.pay(world.unpaid("water")[0])
    await drain(db, settings)
    [delivery] = receiver.deliveries
    recipe = _recipe()
    verify, receive = recipe["verify"], recipe["receive"]
    header = delivery.headers["CityHub-Signature"]
    assert verify(HOOK_SECRET, delivery.body, header)
    assert not verify("another-secret", delivery.body, header)
    assert not verify(HOOK_SECRET, delivery.body.replace(b"completed", b"COMPLETED"), header)
    stamp = int(header.split(",")[0].removeprefix("t="))
    assert not verify(HOOK_SECRET, delivery.body, header, now=stamp + 301)  # 5 minutes late
    old = signature(HOOK_SECRET, delivery.body, int(time.time()) - 301)
    assert not verify(HOOK_SECRET, delivery.body, old)
    body = json.loads(delivery.body)
    assert body["id"] == delivery.headers["CityHub-Event-Id"]
    assert (body["type"], body["data"]["payment"]["id"]) == ("payment.completed", payment["id"])
    seen: set[str] = set()
    assert receive(HOOK_SECRET, delivery.body, delivery.headers, seen) == 200
    assert receive(HOOK_SECRET, delivery.body, delivery.headers, seen) == 200  # dropped
    assert seen == {body["id"]}
    assert receive(HOOK_SECRET, delivery.body, {"CityHub-Signature": old}, set()) == 400


async def test_a_channel_reads_its_delivery_log_and_replays_an_event(
    api: Api, db: Database, sim: Sim, settings: Settings, hub_clock: Clock
) -> None:
    with Receiver(secret=HOOK_SECRET, answers=[503]) as receiver:
        world = await pay_world(db, api, sim, webhook_url=receiver.url)
        await world.pay(world.unpaid("power")[0])
        await drain(db, settings)  # the channel answers 503 first: retried later
        log = await world.channel.get("/v1/webhooks/deliveries")
        [failed] = log["items"]
        assert (failed["status_code"], failed["error"]) == (503, "HTTP 503")
        await make_due(db, hub_clock)
        await drain(db, settings)
        log = await world.channel.get("/v1/webhooks/deliveries")
        assert [d["status_code"] for d in log["items"]] == [200, 503]
        event_id = log["items"][0]["event_id"]

        replayed = await world.channel.post(f"/v1/webhooks/events/{event_id}/replay", expect=202)
        assert replayed == {"event_id": event_id, "topic": "payment.completed", "queued": True}
        await drain(db, settings)
        assert receiver.ids()[event_id] == 3  # failed once, delivered, replayed
        assert len(events(receiver.deliveries, "payment.completed")) == 3
        assert all(d.signed for d in receiver.deliveries)
        only = await world.channel.get("/v1/webhooks/deliveries", params={"event_id": event_id})
        assert len(only["items"]) == 3

        other = await create_channel(db)
        stranger = await api.as_channel(other.client_id, other.secret)
        assert (await stranger.get("/v1/webhooks/deliveries"))["items"] == []
        problem = await stranger.post(f"/v1/webhooks/events/{event_id}/replay", expect=404)
        assert problem["code"] == "event_not_found"
