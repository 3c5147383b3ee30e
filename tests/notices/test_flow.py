"""Accounts, templates, follows, broadcasts to inboxes, channel batches, figures."""

from __future__ import annotations

import json

from cityhub import webhooks
from cityhub.platform.clock import Clock
from tests.client import Api
from tests.identity.factories import create_channel
from tests.notices.factories import HOOK_SECRET, NoticeWorld, batches, deliveries, inbox_rows, key
from tests.outbox_helpers import Receiver, make_due


async def test_a_broadcast_reaches_each_follower_once_and_not_those_who_unfollowed(
    world: NoticeWorld, receiver: Receiver
) -> None:
    for user in ("ann", "bob", "cai"):
        await world.resident(user)
    await world.follow("ann")
    await world.follow("ann", topic="outages-pudong")  # follows twice: one notice all the same
    await world.follow("bob", topic="outages-pudong")
    gone = await world.follow("cai")
    await world.channel.delete(f"/v1/residents/cai/follows/{gone['id']}")

    notice = await world.send(topic="outages-pudong")
    assert notice["status"] == "fanning" and notice["texts"]["en"]["body"] == (
        "No water in Pudong for 4 h."
    )
    await world.drain()

    ann = await world.inbox("ann", lang="en")
    assert [i["title"] for i in ann["items"]] == ["Water outage"]
    assert len((await world.inbox("bob"))["items"]) == 1
    assert (await world.inbox("bob"))["items"][0]["title"] == "停水通知"
    assert (await world.inbox("cai"))["items"] == []
    assert await inbox_rows(world.db) == (2, 2)

    # Pushed once each on the channel, as one signed batch.
    sent = batches(receiver.deliveries)
    assert len(sent) == 1 and all(d.signed for d in receiver.deliveries)
    assert sorted(n["user_id"] for n in sent[0]["data"]["notices"]) == ["ann", "bob"]
    stats = await world.stats(notice["id"])
    assert (stats["recipients"], stats["delivered"], stats["opened"]) == (2, 2, 0)

    await world.drain()  # running again changes nothing
    assert await inbox_rows(world.db) == (2, 2) and len(batches(receiver.deliveries)) == 1


async def test_a_channel_not_granted_the_city_receives_nothing(
    world: NoticeWorld, api: Api
) -> None:
    with Receiver(secret=HOOK_SECRET) as other_hooks:
        other = await create_channel(
            world.db, webhook_url=other_hooks.url, webhook_secret=HOOK_SECRET
        )
        outsider = await api.as_channel(other.client_id, other.secret)
        await world.resident("dan")
        await world.follow("dan")
        # The same person on a channel without a grant in the city.
        await outsider.post("/v1/residents", json={"user_id": "dan-elsewhere"}, expect=201)
        refused = await world.follow("dan-elsewhere", channel=outsider, expect=403)
        assert refused["code"] == "city_not_granted"
        listed = await outsider.get(f"/v1/cities/{world.city.slug}/notice-accounts", expect=403)
        assert listed["code"] == "city_not_granted"

        await world.send()
        await world.drain()
        assert len((await world.inbox("dan"))["items"]) == 1
        assert (await world.inbox("dan-elsewhere", channel=outsider))["items"] == []
        assert other_hooks.deliveries == []
        # Another channel cannot read or mark this channel's users.
        await outsider.get("/v1/residents/dan/notices", expect=404)


async def test_templates_check_their_placeholders_and_preview(world: NoticeWorld) -> None:
    bad = await world.staff.post(
        world.url("/notice-accounts/water-co/templates"),
        json={
            "code": "broken",
            "placeholders": {"district": "text"},
            "texts": {"en": {"title": "x", "body": "{district} {when}"}},
        },
        headers=key(),
        expect=422,
    )
    assert bad["field"] == "texts.en.body" and "{when}" in bad["detail"]
    missing = await world.send(values={"district": "Pudong"}, expect=422)
    assert missing["field"] == "values.hours"
    mistyped = await world.send(values={"district": "Pudong", "hours": "four"}, expect=422)
    assert mistyped["field"] == "values.hours" and "integer" in mistyped["detail"]
    unknown = await world.send(values={"district": "P", "hours": 1, "x": 1}, expect=422)
    assert unknown["field"] == "values.x"
    shown = await world.staff.post(
        world.url("/notice-accounts/water-co/templates/outage/preview"),
        json={"values": {"district": "Xuhui", "hours": 2}},
        expect=200,
    )
    assert shown["texts"]["zh-Hans"]["body"] == "Xuhui停水 2 小时。"
    listed = await world.staff.get(world.url("/notices"))
    assert listed["items"] == []  # refused notices left nothing behind


async def test_reading_and_opening_count_and_a_bill_paid_after_is_attributed(
    world: NoticeWorld,
) -> None:
    await world.resident("eve")
    await world.follow("eve")
    notice = await world.send(ref="bill:water:B-77", link="https://pay.example/b77")
    await world.drain()
    entry = (await world.inbox("eve"))["items"][0]
    opened = await world.api.get(
        f"/v1/notices/open/{entry['tracking']}", params={"follow": "false"}
    )
    assert opened["notice"] == notice["id"]
    redirect = await world.api.client.get(f"/v1/notices/open/{entry['tracking']}")
    assert redirect.status_code == 303 and redirect.headers["location"] == notice["link"]
    forged = entry["tracking"][:-2] + ("00" if not entry["tracking"].endswith("00") else "11")
    await world.api.get(f"/v1/notices/open/{forged}", expect=404)
    await world.channel.post(f"/v1/residents/eve/notices/{entry['id']}/read", expect=200)
    assert (await world.inbox("eve", unread="true"))["items"] == []

    from cityhub import outbox

    async with world.db.unit_of_work() as session:
        await outbox.enqueue(
            session=session,
            topic="payment.completed",
            city_id=world.city.id,
            payload={
                "channel_id": world.login.channel.id,
                "payment": {
                    "service": "water",
                    "bill_id": "B-77",
                    "amount_fen": 12345,
                    "currency": "CNY",
                    "completed_at": None,
                },
            },
        )
    await world.drain()
    stats = await world.stats(notice["id"])
    assert (stats["opened"], stats["acted"], stats["amount_fen"]) == (1, 1, 12345)


async def test_a_failing_channel_falls_back_to_sms_once(
    world: NoticeWorld, receiver: Receiver, sim: object, hub_clock: Clock
) -> None:
    await world.resident("fay")
    await world.follow("fay")
    receiver.answers = [500] * 20  # the channel is down
    notice = await world.send(urgent=True)
    for _ in range(6):
        await world.drain()
        await make_due(world.db, hub_clock)  # time travel past each backoff
    rows = await deliveries(world.db)
    assert [(d.route, d.status) for d in rows] == [
        (f"channel:{world.login.channel.id}", "failed"),
        ("sms", "sent"),
    ]
    assert rows[0].attempts == 4
    from tests.simulators.fixtures import Sim

    assert isinstance(sim, Sim)
    texts = sim.control.get("/sms/sim-sms/messages", params={"to": world.phones["fay"]}).json()[
        "messages"
    ]
    assert len(texts) == 1 and "停水" in texts[0]["text"]
    # Every failed attempt was logged, with the same batch id (replays are detectable).
    ids = {d.event_id for d in receiver.deliveries}
    assert len(receiver.deliveries) == 4 and len(ids) == 1
    stats = await world.stats(notice["id"])
    assert (stats["delivered"], stats["failed"]) == (1, 0)


async def test_the_batch_signature_verifies_and_a_replay_is_detectable(
    world: NoticeWorld, receiver: Receiver
) -> None:
    await world.resident("gus")
    await world.follow("gus")
    await world.send()
    await world.drain()
    (got,) = receiver.deliveries
    header = got.headers["CityHub-Signature"]
    assert webhooks.verify_signature(HOOK_SECRET, got.body, header)
    assert not webhooks.verify_signature("another-secret", got.body, header)
    tampered = got.body.replace(b"gus", b"guz")
    assert not webhooks.verify_signature(HOOK_SECRET, tampered, header)
    stale = header.split(",")[0].split("=")[1]
    old = webhooks.signature(HOOK_SECRET, got.body, int(stale) - 600)
    assert not webhooks.verify_signature(HOOK_SECRET, got.body, old)  # older than five minutes
    body = json.loads(got.body)
    assert body["id"] == got.headers["CityHub-Event-Id"]  # the id a channel dedupes on
    assert body["data"]["notices"][0]["texts"]["en"]["title"] == "Water outage"


async def test_a_recipient_every_route_failed_for_is_a_dead_letter(
    world: NoticeWorld, receiver: Receiver, sim: object, hub_clock: Clock
) -> None:
    from tests.simulators.fixtures import Sim

    assert isinstance(sim, Sim)
    await world.resident("zed")
    await world.follow("zed")
    receiver.answers = [500] * 20
    sim.set("sms/sim-sms", down=True)
    notice = await world.send(urgent=True)
    for _ in range(12):
        await world.drain()
        await make_due(world.db, hub_clock)
    rows = await deliveries(world.db)
    assert [(d.route, d.status, d.attempts) for d in rows] == [
        (f"channel:{world.login.channel.id}", "failed", 4),
        ("sms", "failed", 4),
    ]
    dead = await world.staff.get(world.url("/notice-dead-letters"))
    assert [(d["route"], d["notice"]) for d in dead["items"]] == [
        ("sms", notice["id"]),
        (f"channel:{world.login.channel.id}", notice["id"]),
    ]
    stats = await world.stats(notice["id"])
    assert (stats["recipients"], stats["delivered"], stats["failed"]) == (1, 0, 1)
    assert len((await world.inbox("zed"))["items"]) == 1  # the inbox has it all the same
