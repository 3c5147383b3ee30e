"""Delivered counts per route, the inbox counted as a route: each recipient once, under the
route that reached them, so the counts add up to the recipients whatever failed."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.notices import service
from cityhub.notices.models import Notice
from cityhub.platform.clock import Clock
from tests.notices.factories import NoticeWorld
from tests.outbox_helpers import Receiver, make_due


async def routes_of(world: NoticeWorld, public_id: str) -> dict[str, int]:
    async with world.db.unit_of_work() as session:
        notice = await session.scalar(select(Notice).where(Notice.public_id == public_id))
        assert notice is not None
        return await service.delivered_by_route(session=session, notice=notice)


async def test_pushed_on_the_channel_the_counts_add_up(
    world: NoticeWorld, receiver: Receiver
) -> None:
    for user in ("ann", "bob"):
        await world.resident(user)
        await world.follow(user)
    notice = await world.send()
    await world.drain()
    routes = await routes_of(world, notice["id"])
    assert routes == {f"channel:{world.login.channel.id}": 2, "inbox": 0}


async def test_a_failed_channel_falls_back_and_the_rest_is_in_the_inbox_only(
    world: NoticeWorld, receiver: Receiver, hub_clock: Clock
) -> None:
    await world.resident("fay")
    await world.resident("gil", phone=False)
    for user in ("fay", "gil"):
        await world.follow(user)
    receiver.answers = [500] * 40  # the channel is down
    notice = await world.send(urgent=True)
    for _ in range(8):
        await world.drain()
        await make_due(world.db, hub_clock)
    routes = await routes_of(world, notice["id"])
    # fay got a text message; gil has no phone: the notice is in the inbox only.
    assert routes == {"sms": 1, "inbox": 1}
    stats = await world.stats(notice["id"])
    assert sum(routes.values()) == stats["recipients"] == 2
