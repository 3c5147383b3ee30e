"""Quiet hours and the daily cap in the city's timezone; urgent notices bypass both."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cityhub.notices.delivery import PUSH, quiet_wait
from cityhub.notices.models import NoticeSettings
from cityhub.outbox import OutboxEvent
from cityhub.platform.clock import Clock
from tests.helpers import at_local_time
from tests.notices.factories import NoticeWorld, deliveries
from tests.outbox_helpers import Receiver, make_due

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _rules(start: int, end: int) -> NoticeSettings:
    return NoticeSettings(quiet_start=start, quiet_end=end, daily_cap=3, conversion_days=7)


def test_quiet_hours_are_read_in_the_citys_timezone() -> None:
    rules = _rules(22 * 60, 8 * 60)
    # 15:30 UTC is 23:30 in Shanghai: quiet until 08:00 there, 8.5 hours away.
    late = dt.datetime(2026, 3, 2, 15, 30, tzinfo=dt.UTC)
    assert quiet_wait("Asia/Shanghai", rules, late) == dt.timedelta(hours=8, minutes=30)
    # ... but 23:30 UTC is 07:30 the next morning in Shanghai: half an hour left.
    early = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
    assert quiet_wait("Asia/Shanghai", rules, early) == dt.timedelta(minutes=30)
    # 03:00 UTC is 11:00 in Shanghai: push now; in UTC's own terms it would be quiet.
    day = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    assert quiet_wait("Asia/Shanghai", rules, day) is None
    assert quiet_wait("UTC", rules, day) == dt.timedelta(hours=5)
    # A window within one day.
    assert quiet_wait("UTC", _rules(12 * 60, 14 * 60), day) is None
    assert quiet_wait("UTC", _rules(2 * 60, 4 * 60), day) == dt.timedelta(hours=1)


async def test_a_notice_waits_out_quiet_hours_but_an_urgent_one_does_not(
    world: NoticeWorld, receiver: Receiver, hub_clock: Clock
) -> None:
    await world.resident("ivy")
    await world.follow("ivy")
    at_local_time(hub_clock, "Asia/Shanghai", 10)  # whatever the hour the test runs at
    start, end = "09:00", "12:00"
    await world.staff.patch(
        world.url("/notice-settings"), json={"quiet_start": start, "quiet_end": end}
    )
    await world.send()
    await world.drain()
    assert len((await world.inbox("ivy"))["items"]) == 1  # the inbox has it at once
    assert await deliveries(world.db) == [] and receiver.deliveries == []
    async with world.db.unit_of_work() as session:
        waiting = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == PUSH, OutboxEvent.status == "pending")
        )
    assert waiting is not None
    ends_local = waiting.available_at.astimezone(SHANGHAI)
    assert ends_local.strftime("%H:%M") == end  # due when quiet hours end, city time

    await world.send(urgent=True)
    await world.drain()
    assert [d.status for d in await deliveries(world.db)] == ["sent"]

    await world.no_quiet_hours()  # quiet hours are over
    await make_due(world.db, hub_clock)
    await world.drain()
    assert [d.status for d in await deliveries(world.db)] == ["sent", "sent"]


async def test_the_daily_cap_limits_pushes_not_the_inbox(
    world: NoticeWorld, receiver: Receiver
) -> None:
    await world.resident("jon")
    await world.follow("jon")
    await world.no_quiet_hours(daily_cap=2)
    for _ in range(3):
        await world.send()
    await world.send(urgent=True)
    await world.drain()
    assert len((await world.inbox("jon"))["items"]) == 4
    assert [d.status for d in await deliveries(world.db)] == ["sent", "sent", "capped", "sent"]
    assert len(receiver.deliveries) == 3


async def test_bad_settings_are_refused_and_leave_the_old_ones(world: NoticeWorld) -> None:
    refused = await world.staff.patch(
        world.url("/notice-settings"), json={"quiet_start": "25:00"}, expect=422
    )
    assert refused["field"] == "quiet_start"
    await world.staff.patch(world.url("/notice-settings"), json={"daily_cap": None}, expect=422)
    shown = await world.staff.get(world.url("/notice-settings"))
    assert (shown["quiet_start"], shown["daily_cap"], shown["timezone"]) == (
        "00:00",
        3,
        "Asia/Shanghai",
    )
