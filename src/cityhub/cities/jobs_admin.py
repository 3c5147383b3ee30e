"""Looking after the recurring jobs (platform/scheduler.py runs them): each job's schedule,
last run and next run for a city or the hub, and a city's own schedule of a job (or the job
switched off there), audited. The API, the console and the CLI call these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.models import City
from cityhub.identity import audit
from cityhub.platform.job_models import JobRun, JobSetting
from cityhub.platform.scheduler import Job, JobRegistry, check_cron, next_time, scope_of


@dataclass(frozen=True)
class JobStatus:
    """A job as one scope runs it: its schedule, its last run and when it runs next."""

    job: Job
    cron: str
    enabled: bool
    customised: bool
    last: JobRun | None
    next_at: dt.datetime | None


def jobs_for(jobs: JobRegistry, city: City | None) -> list[Job]:
    """The jobs of a city (per-city jobs) or of the hub (the others), by name."""
    return [j for _, j in sorted(jobs.jobs.items()) if j.per_city == (city is not None)]


async def status_of(
    *, session: AsyncSession, jobs: JobRegistry, city: City | None, zone: ZoneInfo, now: dt.datetime
) -> list[JobStatus]:
    """Every job of the scope with its last run (by schedule time) and its next one."""
    scope = scope_of(city)
    settings = {
        s.job: s
        for s in (await session.scalars(select(JobSetting).where(JobSetting.scope == scope))).all()
    }
    found = []
    for item in jobs_for(jobs, city):
        last = await session.scalar(
            select(JobRun)
            .where(JobRun.scope == scope, JobRun.job == item.name)
            .order_by(JobRun.due_at.desc())
            .limit(1)
        )
        setting = settings.get(item.name)
        cron = (setting.cron if setting else None) or item.cron
        enabled = setting.enabled if setting else True
        found.append(
            JobStatus(
                job=item,
                cron=cron,
                enabled=enabled,
                customised=setting is not None and (setting.cron is not None or not enabled),
                last=last,
                next_at=next_time(cron, zone, now) if enabled else None,
            )
        )
    return found


async def configure(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    job: Job,
    city: City | None,
    cron: str | None = None,
    enabled: bool | None = None,
    default: bool = False,
) -> JobSetting:
    """Change the scope's schedule of a job (`default`: back to the job's own), or switch it
    off or on there."""
    scope = scope_of(city)
    setting = await session.scalar(
        select(JobSetting).where(JobSetting.scope == scope, JobSetting.job == job.name)
    )
    if setting is None:
        setting = JobSetting(scope=scope, city_id=city.id if city else None, job=job.name)
        setting.enabled = True
        session.add(setting)
    if default:
        setting.cron = None
    if cron is not None:
        setting.cron = None if check_cron(cron) == job.cron else cron
    if enabled is not None:
        setting.enabled = enabled
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="job.configure",
        object_type="job",
        object_id=job.name,
        city_id=city.id if city else None,
        details={"cron": setting.cron or job.cron, "enabled": setting.enabled},
    )
    return setting
