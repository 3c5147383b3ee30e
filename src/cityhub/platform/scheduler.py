"""Recurring jobs: every job for every city, at times in the city's own time zone.

A job is registered once (`@jobs.job(...)`) with a cron schedule that a city may change
(`job_settings`). Each run of a job for a city and a scheduled time is one row of `job_runs`,
unique on (scope, job, due_at): a worker takes a run by inserting that row, so of any number of
workers started together exactly one runs each job once per period. A run holds a lease while
it works; a worker that dies leaves it to another once the lease ran out, a failed run is tried
again later (a few times). A worker that was stopped catches up on start: the periods it
missed since the job's last run, up to the job's `catch_up` (a job that acts on a day, like
settlement, catches up every day; a reminder only the latest).

Time comes from `clock`, which tests set, never from the wall inside the loop. The cities the
per-city jobs run for come from the function the cities domain names (`name_cities`): the
platform reads no domain's tables.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog
from croniter import croniter
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import metrics
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from cityhub.platform.errors import NotFound, Unprocessable
from cityhub.platform.job_models import JobRun, JobSetting

if TYPE_CHECKING:
    from cityhub.cities.models import City

log = structlog.get_logger("cityhub.jobs")
HUB = "hub"
MAX_ATTEMPTS = 3
RETRY_AFTER = (dt.timedelta(minutes=2), dt.timedelta(minutes=15), dt.timedelta(hours=1))
JOB_MODULES = (
    "cityhub.billing.jobs",
    "cityhub.notices.jobs",
    "cityhub.appointments.jobs",
    "cityhub.requests.jobs",
    "cityhub.platform.housekeeping",
    "cityhub.identity.jobs",
    "cityhub.web.jobs",
    "cityhub.figures.jobs",
    "cityhub.complaints.jobs",
    "cityhub.autodebit.jobs",
    "cityhub.subsidies.jobs",
)
Clock = Callable[[], dt.datetime]
LiveCities = Callable[..., Awaitable[Sequence["City"]]]  # (*, session) -> cities, by id
_live_cities: list[LiveCities] = []


def name_cities(live: LiveCities) -> None:
    """Name the function that gives the cities the per-city jobs run for (the cities domain's
    service: every city not suspended)."""
    _live_cities[:] = [live]


async def _cities(session: AsyncSession) -> list[City]:
    if not _live_cities:
        raise RuntimeError("no function names the cities: cityhub.cities.service names them")
    return list(await _live_cities[0](session=session))


@dataclass(frozen=True)
class JobContext:
    """What a job gets: the database, the settings, its city (None for hub jobs) and the
    time it was due (UTC), with that time in the scope's zone."""

    db: Database
    settings: Settings
    city: City | None
    due_at: dt.datetime
    zone: ZoneInfo

    @property
    def local_due(self) -> dt.datetime:
        """The scheduled time in the city's (or the hub's) zone."""
        return self.due_at.astimezone(self.zone)

    @property
    def day_before(self) -> dt.date:
        """The calendar day before the scheduled time, in the scope's zone (what a nightly
        job acts on)."""
        return self.local_due.date() - dt.timedelta(days=1)

    def require_city(self) -> City:
        """The city of a per-city job."""
        assert self.city is not None, "a per-city job runs with its city"
        return self.city


JobFn = Callable[[JobContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Job:
    """A recurring job and its default schedule (cron, in the scope's own time)."""

    name: str
    fn: JobFn
    cron: str
    per_city: bool
    catch_up: int
    description: str


@dataclass
class JobRegistry:
    """Jobs by name."""

    jobs: dict[str, Job] = field(default_factory=dict)

    def job(
        self, name: str, *, cron: str, per_city: bool = True, catch_up: int = 1, description: str
    ) -> Callable[[JobFn], JobFn]:
        """Decorator: run the function on the schedule (for every city when `per_city`)."""
        check_cron(cron)

        def register(fn: JobFn) -> JobFn:
            self.jobs[name] = Job(name, fn, cron, per_city, max(catch_up, 1), description)
            return fn

        return register

    def get_or_raise(self, name: str) -> Job:
        """The job of that name, or NotFound."""
        found = self.jobs.get(name)
        if found is None:
            raise NotFound(f"no job {name!r}", code="job_not_found", field="job")
        return found


registry = JobRegistry()
job = registry.job


def load_jobs() -> JobRegistry:
    """Import the modules that register jobs, and return the registry."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return registry


def check_cron(expression: str) -> str:
    """The expression if it is a valid five-field cron schedule, else Unprocessable."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise Unprocessable(
            f"{expression!r} is not a cron schedule (five fields: minute hour day month weekday)",
            code="invalid_cron",
            field="cron",
        )
    return expression


def scope_of(city: City | None) -> str:
    """The scope name of a city's runs, or the hub's."""
    return HUB if city is None else f"city:{city.id}"


def due_times(cron: str, zone: ZoneInfo, now: dt.datetime, count: int) -> list[dt.datetime]:
    """The last `count` scheduled times at or before `now`, oldest first, in UTC."""
    itr = croniter(cron, now.astimezone(zone) + dt.timedelta(microseconds=1))
    times = [itr.get_prev(dt.datetime) for _ in range(count)]
    return sorted(t.astimezone(dt.UTC) for t in times)


def next_time(cron: str, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The next scheduled time after `now`, in UTC."""
    return croniter(cron, now.astimezone(zone)).get_next(dt.datetime).astimezone(dt.UTC)


@dataclass(frozen=True)
class Planned:
    """A run that is due: the job, its city (None: the hub) and its scheduled time."""

    job: Job
    city: City | None
    due_at: dt.datetime
    zone: ZoneInfo

    @property
    def scope(self) -> str:
        return scope_of(self.city)


@dataclass(frozen=True)
class Finished:
    """What one run came to."""

    job: str
    scope: str
    due_at: dt.datetime
    status: str
    outcome: dict[str, Any]
    error: str | None = None


def _insert(db: Database) -> Any:
    return sqlite.insert if db.is_sqlite else postgresql.insert


class Scheduler:
    """Plans the due runs of every job in every scope and carries them out, once each."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        jobs: JobRegistry | None = None,
        clock: Clock = utcnow,
        lease_seconds: float | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.jobs = jobs or load_jobs()
        self.clock = clock
        self.lease = dt.timedelta(seconds=lease_seconds or settings.job_lease_seconds)
        self.hub_zone = ZoneInfo(settings.hub_timezone)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    async def plan(self) -> list[Planned]:
        """Every run due now that no worker finished: the missed periods since each job's
        last run (up to its `catch_up`), and failed or abandoned runs whose retry is due."""
        now = self.clock()
        async with self.db.unit_of_work() as session:
            cities = await _cities(session)
            overrides = {
                (s.scope, s.job): s for s in (await session.scalars(select(JobSetting))).all()
            }
            latest = {
                (scope, name): at
                for scope, name, at in (
                    await session.execute(
                        select(JobRun.scope, JobRun.job, func.max(JobRun.due_at)).group_by(
                            JobRun.scope, JobRun.job
                        )
                    )
                ).all()
            }
            retries = (
                await session.execute(
                    select(JobRun.scope, JobRun.job, JobRun.due_at).where(
                        ((JobRun.status == "failed") & (JobRun.retry_at <= now))
                        | ((JobRun.status == "running") & (JobRun.locked_until < now)),
                        JobRun.attempts < MAX_ATTEMPTS,
                    )
                )
            ).all()
        by_scope: dict[str, tuple[City | None, ZoneInfo]] = {HUB: (None, self.hub_zone)}
        by_scope.update({scope_of(c): (c, ZoneInfo(c.timezone)) for c in cities})
        planned: list[Planned] = []
        for name, found in sorted(self.jobs.jobs.items()):
            scopes = [scope_of(c) for c in cities] if found.per_city else [HUB]
            for scope in scopes:
                setting = overrides.get((scope, name))
                if setting is not None and not setting.enabled:
                    continue
                cron = (setting.cron if setting is not None else None) or found.cron
                city, zone = by_scope[scope]
                last = latest.get((scope, name))
                times = due_times(cron, zone, now, found.catch_up)
                times = [t for t in times if last is None or t > last]
                if last is None:
                    times = times[-1:]  # a new job or city starts from now, not from history
                planned += [Planned(found, city, t, zone) for t in times]
        for scope, name, due_at in retries:
            if scope in by_scope and name in self.jobs.jobs:
                city, zone = by_scope[scope]
                planned.append(Planned(self.jobs.jobs[name], city, due_at, zone))
        return sorted(planned, key=lambda p: (p.due_at, p.job.name, p.scope))

    async def claim(self, planned: Planned) -> int | None:
        """Take the run: insert its row, or take over a failed or abandoned one; its id, or
        None when another worker has it (or finished it)."""
        now = self.clock()
        values: dict[str, Any] = {
            "scope": planned.scope,
            "city_id": planned.city.id if planned.city else None,
            "job": planned.job.name,
            "due_at": planned.due_at,
            "status": "running",
            "attempts": 1,
            "worker": self.worker_id,
            "started_at": now,
            "locked_until": now + self.lease,
            "outcome": {},
        }
        async with self.db.unit_of_work() as session:
            taken = await session.scalar(
                _insert(self.db)(JobRun)
                .values(values)
                .on_conflict_do_nothing(index_elements=["scope", "job", "due_at"])
                .returning(JobRun.id)
            )
            if taken is not None:
                return int(taken)
            found = await session.scalar(
                update(JobRun)
                .where(
                    JobRun.scope == planned.scope,
                    JobRun.job == planned.job.name,
                    JobRun.due_at == planned.due_at,
                    JobRun.attempts < MAX_ATTEMPTS,
                    ((JobRun.status == "failed") & (JobRun.retry_at <= now))
                    | ((JobRun.status == "running") & (JobRun.locked_until < now)),
                )
                .values(
                    status="running",
                    attempts=JobRun.attempts + 1,
                    worker=self.worker_id,
                    started_at=now,
                    locked_until=now + self.lease,
                    retry_at=None,
                )
                .returning(JobRun.id)
            )
            return int(found) if found is not None else None

    async def run(self, planned: Planned) -> Finished | None:
        """Claim and carry out one run; what it came to (None: another worker has it)."""
        run_id = await self.claim(planned)
        if run_id is None:
            return None
        ctx = JobContext(self.db, self.settings, planned.city, planned.due_at, planned.zone)
        heartbeat = asyncio.create_task(self._keep_lease(run_id))
        started = asyncio.get_running_loop().time()
        try:
            outcome = await planned.job.fn(ctx)
        except Exception as exc:  # a failed job is recorded and tried again later
            log.warning("job_failed", job=planned.job.name, scope=planned.scope, error=repr(exc))
            return await self._finish(run_id, planned, "failed", {}, f"{type(exc).__name__}: {exc}")
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
            metrics.JOB_SECONDS.labels(planned.job.name).observe(
                asyncio.get_running_loop().time() - started
            )
        return await self._finish(run_id, planned, "done", outcome, None)

    async def _keep_lease(self, run_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.db.unit_of_work() as session:
                await session.execute(
                    update(JobRun)
                    .where(JobRun.id == run_id, JobRun.worker == self.worker_id)
                    .values(locked_until=self.clock() + self.lease)
                )

    async def _finish(
        self, run_id: int, planned: Planned, status: str, outcome: dict[str, Any], error: str | None
    ) -> Finished:
        now = self.clock()
        async with self.db.unit_of_work() as session:
            attempts = await session.scalar(select(JobRun.attempts).where(JobRun.id == run_id))
            retry = None
            if status == "failed":
                retry = now + RETRY_AFTER[min(int(attempts or 1), len(RETRY_AFTER)) - 1]
            await session.execute(
                update(JobRun)
                .where(JobRun.id == run_id, JobRun.worker == self.worker_id)
                .values(
                    status=status,
                    finished_at=now,
                    locked_until=None,
                    retry_at=retry,
                    outcome=outcome,
                    error=error[:2000] if error else None,
                )
            )
        metrics.JOBS.labels(planned.job.name, status).inc()
        log.info("job_finished", job=planned.job.name, scope=planned.scope, status=status)
        return Finished(planned.job.name, planned.scope, planned.due_at, status, outcome, error)

    async def run_due(self) -> list[Finished]:
        """One round: carry out every run due now (for `worker --once`, and the loop)."""
        done = []
        for planned in await self.plan():
            finished = await self.run(planned)
            if finished is not None:
                done.append(finished)
        return done

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Carry out due runs until `stop` is set, looking again every poll interval."""
        log.info("scheduler_started", worker=self.worker_id, jobs=sorted(self.jobs.jobs))
        while not stop.is_set():
            try:
                await self.run_due()
            except Exception:  # a database hiccup must not end the loop
                log.exception("scheduler_round_failed", worker=self.worker_id)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.scheduler_poll_seconds)
        log.info("scheduler_stopped", worker=self.worker_id)
