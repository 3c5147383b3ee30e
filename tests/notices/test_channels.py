"""A resident on several channels gets a notice once, on the channel they prefer."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.cities.models import Service
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel, id_number
from tests.notices.factories import HOOK_SECRET, NoticeWorld, batches, deliveries
from tests.outbox_helpers import Receiver

VERIFY = {"name": "林晓", "id_number": id_number(77), "purpose": "verify for city services"}


async def test_one_person_on_two_channels_gets_it_once_on_the_preferred_one(
    world: NoticeWorld, receiver: Receiver, api: Api
) -> None:
    with Receiver(secret=HOOK_SECRET) as second_hooks:
        second = await create_channel(
            world.db, webhook_url=second_hooks.url, webhook_secret=HOOK_SECRET
        )
        async with world.db.unit_of_work() as session:
            water = await session.scalar(select(Service).where(Service.city_id == world.city.id))
        assert water is not None
        await create_grant(world.db, channel=second.channel, service=water)
        other = await api.as_channel(second.client_id, second.secret)

        await world.resident("lin-a")
        await other.post("/v1/residents", json={"user_id": "lin-b"}, expect=201)
        await world.channel.post("/v1/residents/lin-a/verification", json=VERIFY, expect=200)
        await linked_by_confirmation(world.channel, "lin-a", other, "lin-b")
        await world.follow("lin-a")
        await world.follow("lin-b", channel=other)  # the same person follows again
        await other.patch(
            "/v1/residents/lin-b/notice-preferences", json={"prefer_this_channel": True}
        )

        notice = await world.send()
        await world.drain()
        await world.drain()

        # One person: one inbox entry, seen from either channel.
        assert len((await world.inbox("lin-a"))["items"]) == 1
        assert len((await world.inbox("lin-b", channel=other))["items"]) == 1
        # Pushed once, on the preferred channel, to its own user id.
        assert batches(receiver.deliveries) == []
        (batch,) = batches(second_hooks.deliveries)
        assert [n["user_id"] for n in batch["data"]["notices"]] == ["lin-b"]
        assert [(d.route, d.status) for d in await deliveries(world.db)] == [
            (f"channel:{second.channel.id}", "sent")
        ]
        assert (await world.stats(notice["id"]))["recipients"] == 1


async def test_what_a_user_followed_before_verifying_moves_with_them_to_the_known_person(
    world: NoticeWorld, api: Api
) -> None:
    second = await create_channel(world.db)
    async with world.db.unit_of_work() as session:
        water = await session.scalar(select(Service).where(Service.city_id == world.city.id))
    assert water is not None
    await create_grant(world.db, channel=second.channel, service=water)
    other = await api.as_channel(second.client_id, second.secret)

    await world.resident("lin-a")
    await world.channel.post("/v1/residents/lin-a/verification", json=VERIFY, expect=200)
    await world.follow("lin-a")
    # On the second channel the same person follows a topic first, then verifies.
    await other.post("/v1/residents", json={"user_id": "lin-b"}, expect=201)
    await world.follow("lin-b", channel=other)  # followed on both channels: kept once
    await world.follow("lin-b", channel=other, topic="outages-pudong")
    await linked_by_confirmation(world.channel, "lin-a", other, "lin-b")

    follows = (await other.get("/v1/residents/lin-b/follows"))["items"]
    assert sorted((f["account"], f["topic"] or "") for f in follows) == [
        ("water-co", ""),
        ("water-co", "outages-pudong"),
    ]
    await world.send(topic="outages-pudong")
    await world.drain()
    assert len((await world.inbox("lin-b", channel=other))["items"]) == 1
    assert len((await world.inbox("lin-a"))["items"]) == 1


async def linked_by_confirmation(known: Api, known_user: str, other: Api, user: str) -> None:
    """`other`'s user verifies as the person `known` already has, and is linked when the
    person confirms on `known` (a name and number alone link nobody)."""
    answer = await other.post(f"/v1/residents/{user}/verification", json=VERIFY, expect=202)
    await known.post(
        f"/v1/residents/{known_user}/link-requests/{answer['link']['id']}/confirmation",
        expect=200,
    )
