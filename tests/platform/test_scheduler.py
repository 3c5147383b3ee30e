"""Recurring jobs: once per period however many workers run, in each city's own time, caught
up after a restart, taken over from a dead worker. The clock is the test's."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cityhub.cities import jobs_admin
from cityhub.cities.models import City
from cityhub.identity import audit
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.job_models import JobRun
from cityhub.platform.scheduler import (
    JobContext,
    JobRegistry,
    Scheduler,
    load_jobs,
)
from tests.cities.factories import create_city

UTC = dt.UTC


@dataclass
class Clock:
    """The time the schedulers see: set by the test, never the wall's."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Calls:
    """Every run the test jobs were called for: (job, city slug or hub, day or due time)."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)


def registry(calls: Calls) -> JobRegistry:
    jobs = JobRegistry()

    async def record(name: str, ctx: JobContext, what: str) -> dict[str, Any]:
        for _ in range(3):
            await asyncio.sleep(0)  # let a second worker interleave
        if name in calls.fail:
            raise RuntimeError(f"{name} failed on purpose")
        calls.seen.append((name, ctx.city.slug if ctx.city else "hub", what))
        return {"what": what}

    @jobs.job("nightly", cron="0 2 * * *", catch_up=7, description="acts on the day before")
    async def nightly(ctx: JobContext) -> dict[str, Any]:
        return await record("nightly", ctx, ctx.day_before.isoformat())

    @jobs.job("often", cron="*/30 * * * *", description="only the latest period matters")
    async def often(ctx: JobContext) -> dict[str, Any]:
        return await record("often", ctx, ctx.due_at.isoformat())

    @jobs.job("hubwide", cron="15 * * * *", per_city=False, description="for the hub")
    async def hubwide(ctx: JobContext) -> dict[str, Any]:
        return await record("hubwide", ctx, ctx.due_at.isoformat())

    return jobs


@pytest.fixture
async def second_db(db: Database) -> AsyncIterator[Database]:
    """Another engine on the same database: a second worker process's connections."""
    other = Database(db.url)
    yield other
    await other.dispose()


@pytest.fixture
async def cities(db: Database) -> dict[str, City]:
    shanghai = await create_city(db, slug="shanghai")
    london = await create_city(db, slug="london")
    async with db.unit_of_work() as session:
        row = await session.get(City, london.id)
        assert row is not None
        row.timezone = "Europe/London"
    london.timezone = "Europe/London"
    return {"shanghai": shanghai, "london": london}


async def runs(db: Database) -> list[JobRun]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(JobRun).order_by(JobRun.id))).all())


async def test_two_workers_started_together_run_each_job_once_per_period(
    db: Database, second_db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    calls = Calls()
    clock = Clock(dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    jobs = registry(calls)
    workers = [Scheduler(d, settings, jobs=jobs, clock=clock) for d in (db, second_db)]

    await asyncio.gather(*(w.run_due() for w in workers))
    # 03:00 UTC is 11:00 in Shanghai (its 02:00 run was for 9 March) and 03:00 in London.
    assert sorted(calls.seen) == [
        ("hubwide", "hub", "2026-03-10T02:15:00+00:00"),
        ("nightly", "london", "2026-03-09"),
        ("nightly", "shanghai", "2026-03-09"),
        ("often", "london", "2026-03-10T03:00:00+00:00"),
        ("often", "shanghai", "2026-03-10T03:00:00+00:00"),
    ]
    rows = await runs(db)
    assert {r.status for r in rows} == {"done"} and len(rows) == 5
    by_due = {(r.job, r.scope): r.due_at for r in rows}
    assert by_due[("nightly", f"city:{cities['shanghai'].id}")] == dt.datetime(
        2026, 3, 9, 18, 0, tzinfo=UTC
    )
    assert by_due[("nightly", f"city:{cities['london'].id}")] == dt.datetime(
        2026, 3, 10, 2, 0, tzinfo=UTC
    )

    # Started together again in the same period: nothing runs twice.
    await asyncio.gather(*(w.run_due() for w in workers))
    assert len(calls.seen) == 5

    # A day later, together again: each job once more, for its next period only.
    clock.now += dt.timedelta(days=1)
    await asyncio.gather(*(w.run_due() for w in workers))
    assert Counter(name for name, _, _ in calls.seen) == {"nightly": 4, "often": 4, "hubwide": 2}
    assert Counter(calls.seen).most_common(1)[0][1] == 1
    assert ("nightly", "shanghai", "2026-03-10") in calls.seen


async def test_a_restarted_worker_catches_up_the_periods_it_missed(
    db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    calls = Calls()
    clock = Clock(dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    jobs = registry(calls)
    await Scheduler(db, settings, jobs=jobs, clock=clock).run_due()
    calls.seen.clear()

    # The worker was stopped for three days; a new one starts.
    clock.now += dt.timedelta(days=3, hours=1)
    await Scheduler(db, settings, jobs=jobs, clock=clock).run_due()
    nightly = sorted(
        what for name, city, what in calls.seen if (name, city) == ("nightly", "shanghai")
    )
    assert nightly == ["2026-03-10", "2026-03-11", "2026-03-12"]
    # A job whose latest period is all that matters runs once, for that period.
    often = [what for name, city, what in calls.seen if (name, city) == ("often", "london")]
    assert often == ["2026-03-13T04:00:00+00:00"]
    hubwide = [what for name, _, what in calls.seen if name == "hubwide"]
    assert hubwide == ["2026-03-13T03:15:00+00:00"]


async def test_a_run_left_by_a_dead_worker_is_taken_over_once_its_lease_ran_out(
    db: Database, second_db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    calls = Calls()
    clock = Clock(dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    jobs = registry(calls)
    dead = Scheduler(db, settings, jobs=jobs, clock=clock, lease_seconds=60)
    planned = [p for p in await dead.plan() if p.job.name == "hubwide"]
    assert len(planned) == 1
    assert await dead.claim(planned[0]) is not None  # ... and the process died right there

    other = Scheduler(second_db, settings, jobs=jobs, clock=clock, lease_seconds=60)
    await other.run_due()
    assert [c for c in calls.seen if c[0] == "hubwide"] == []  # still leased to the dead one

    clock.now += dt.timedelta(seconds=61)
    await other.run_due()
    assert [c[0] for c in calls.seen].count("hubwide") == 1
    taken = next(r for r in await runs(db) if r.job == "hubwide")
    assert (taken.status, taken.attempts, taken.worker) == ("done", 2, other.worker_id)


async def test_a_failed_run_is_tried_again_later_and_its_error_kept(
    db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    calls = Calls(fail={"hubwide"})
    clock = Clock(dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    scheduler = Scheduler(db, settings, jobs=registry(calls), clock=clock)
    finished = {f.job: f for f in await scheduler.run_due()}
    assert finished["hubwide"].status == "failed"
    failed = next(r for r in await runs(db) if r.job == "hubwide")
    assert failed.error == "RuntimeError: hubwide failed on purpose"
    assert failed.retry_at == clock.now + dt.timedelta(minutes=2)

    await scheduler.run_due()
    assert not [f for f in await scheduler.run_due() if f.job == "hubwide"]  # not yet
    calls.fail.clear()
    clock.now += dt.timedelta(minutes=3)
    retried = [f for f in await scheduler.run_due() if f.job == "hubwide"]
    assert [(f.status, f.due_at) for f in retried] == [("done", failed.due_at)]


async def test_a_city_runs_a_job_on_its_own_schedule_or_not_at_all(
    db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    calls = Calls()
    clock = Clock(dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC))
    jobs = registry(calls)
    async with db.unit_of_work() as session:
        await jobs_admin.configure(
            session=session,
            actor=audit.Actor.system(),
            job=jobs.get_or_raise("nightly"),
            city=cities["shanghai"],
            cron="0 12 * * *",  # noon in Shanghai: 04:00 UTC
        )
        await jobs_admin.configure(
            session=session,
            actor=audit.Actor.system(),
            job=jobs.get_or_raise("often"),
            city=cities["london"],
            enabled=False,
        )
    scheduler = Scheduler(db, settings, jobs=jobs, clock=clock)
    await scheduler.run_due()
    assert ("nightly", "shanghai", "2026-03-08") in calls.seen  # 9 March's noon is yet to come
    assert not [c for c in calls.seen if c[:2] == ("often", "london")]

    async with db.unit_of_work() as session:
        shown = await jobs_admin.status_of(
            session=session,
            jobs=jobs,
            city=cities["shanghai"],
            zone=ZoneInfo("Asia/Shanghai"),
            now=clock.now,
        )
    nightly = next(s for s in shown if s.job.name == "nightly")
    assert (nightly.cron, nightly.customised) == ("0 12 * * *", True)
    assert nightly.next_at == dt.datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
    assert nightly.last is not None and nightly.last.status == "done"


async def test_every_real_job_runs_for_every_city_and_the_hub(
    db: Database, settings: Settings, cities: dict[str, City]
) -> None:
    clock = Clock(dt.datetime(2026, 3, 10, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai
    jobs = load_jobs()
    finished = await Scheduler(db, settings, jobs=jobs, clock=clock).run_due()
    per_city = {j.name for j in jobs.jobs.values() if j.per_city}
    hub = {j.name for j in jobs.jobs.values() if not j.per_city}
    assert per_city >= {"settle", "reconcile", "remind-bills", "remind-appointments"}
    assert per_city >= {"no-shows", "sync-schedules", "release-holds"}
    assert hub == {"purge-idempotency-keys", "purge-sessions", "prune-outbox"}
    assert Counter((f.job, f.status) for f in finished) == {
        **{(name, "done"): 2 for name in per_city},
        **{(name, "done"): 1 for name in hub},
    }
    settled = {f.scope: f.outcome["day"] for f in finished if f.job == "settle"}
    assert settled == {
        f"city:{cities['shanghai'].id}": "2026-03-09",
        f"city:{cities['london'].id}": "2026-03-08",  # 01:30 on 10 March is yet to come in London
    }
