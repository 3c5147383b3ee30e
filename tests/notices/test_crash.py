"""Exactly once to each inbox: a real worker is killed (SIGKILL) in the middle of a fan-out."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select

from cityhub.identity.models import Resident
from cityhub.notices.models import Follow, GovAccount, Notice
from cityhub.platform.db import Database
from tests.notices.factories import NoticeWorld, inbox_rows
from tests.outbox_helpers import Hub, eventually, statuses

FOLLOWERS = 20_000


async def _add_followers(world: NoticeWorld, n: int) -> None:
    async with world.db.unit_of_work() as session:
        account = await session.scalar(
            select(GovAccount).where(
                GovAccount.city_id == world.city.id, GovAccount.code == "water-co"
            )
        )
        assert account is not None
        first = await session.scalar(
            insert(Resident).values(phone_masked=None).returning(Resident.id)
        )
        assert first is not None
        await session.execute(insert(Resident), [{"phone_masked": None} for _ in range(n - 1)])
        await session.execute(
            insert(Follow),
            [
                {"city_id": world.city.id, "account_id": account.id, "resident_id": first + i}
                for i in range(n)
            ],
        )


async def _notice(db: Database) -> Notice:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Notice))
    assert found is not None
    return found


async def _fanned_out(db: Database) -> bool:
    return (await _notice(db)).status == "sent" and "pending" not in await statuses(db)


@pytest.mark.slow
async def test_a_worker_killed_mid_fanout_leaves_every_inbox_with_the_notice_once(
    world: NoticeWorld, tmp_path: Path
) -> None:
    await _add_followers(world, FOLLOWERS)
    await world.send()
    worker = Hub(
        world.db.url,
        tmp_path,
        CITYHUB_NOTICE_FANOUT_CHUNK="150",
        CITYHUB_OUTBOX_LEASE_SECONDS="1",
        CITYHUB_OUTBOX_POLL_SECONDS="0.05",
        CITYHUB_SIMULATOR_URL=world.settings.simulator_url,
    )
    try:
        worker.start("worker", "--no-jobs")  # the outbox alone: what the test kills
        await eventually(
            lambda: _some_written(world.db, 1000),
            timeout=30,
            what=lambda: f"the fan-out to start; the worker said:\n{worker.output()}",
            interval=0.01,
        )
        worker.kill()
        written, _ = await inbox_rows(world.db)
        assert written < FOLLOWERS, "killed too late to prove anything"
        assert (await _notice(world.db)).status == "fanning"

        worker.start("worker", "--no-jobs")  # the outbox alone: what the test kills
        await eventually(
            lambda: _fanned_out(world.db),
            timeout=120,
            what=lambda: f"the fan-out to finish; the worker said:\n{worker.output()}",
        )
    finally:
        worker.stop()
    assert await inbox_rows(world.db) == (FOLLOWERS, FOLLOWERS)
    assert (await _notice(world.db)).recipients == FOLLOWERS  # each chunk counted once


async def _some_written(db: Database, n: int) -> bool:
    return (await inbox_rows(db))[0] >= n
