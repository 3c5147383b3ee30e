"""`cityhub notices broadcast`: the notice goes out and the command follows the workers'
fan-out, chunk by chunk, to a summary."""

from __future__ import annotations

import asyncio

from cityhub.outbox import Dispatcher, load_handlers
from tests.notices.factories import NoticeWorld, inbox_rows
from tests.outbox_helpers import invoke


async def test_the_broadcast_command_follows_the_fanout_to_every_inbox(world: NoticeWorld) -> None:
    for user in ("ann", "bob", "cai", "dan"):
        await world.resident(user)
        await world.follow(user)
    # One follower a chunk: the fan-out takes four transactions, the bar four steps.
    settings = world.settings.model_copy(update={"notice_fanout_chunk": 1})
    dispatcher = Dispatcher(world.db, settings, registry=load_handlers())
    stop = asyncio.Event()
    worker = asyncio.create_task(dispatcher.run_forever(stop))
    try:
        code, output = await invoke(
            world.db.url, "notices", "broadcast", "--city", world.city.slug,
            "--account", "water-co", "--template", "outage",
            "-v", "district=Pudong", "-v", "hours=4",
        )  # fmt: skip
    finally:
        stop.set()
        await worker
        await dispatcher.close()
    assert code == 0, output
    assert "to 4 follower(s)" in output and "sent to 4 inbox(es)" in output
    assert await inbox_rows(world.db) == (4, 4)

    refused = await invoke(
        world.db.url, "notices", "broadcast", "--city", world.city.slug,
        "--account", "water-co", "--template", "outage", "--no-wait",
    )  # fmt: skip
    assert refused[0] == 1 and "is missing" in refused[1]
