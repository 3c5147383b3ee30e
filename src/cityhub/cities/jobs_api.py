"""Routes of the recurring jobs (cities/jobs_admin.py): a city's jobs (schedule, last and next
run) and its own schedule of each (city admin); the hub's jobs (operator)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from cityhub.cities import jobs_admin
from cityhub.cities.deps import CityDep
from cityhub.cities.schemas import Update
from cityhub.identity.deps import CurrentStaff, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import NotFound
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.scheduler import load_jobs

router = APIRouter(prefix="/v1", tags=["jobs"])
JobName = Annotated[str, Path(max_length=60)]


class RunRead(BaseModel):
    due_at: dt.datetime
    status: str
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: dict[str, Any]
    error: str | None


class JobRead(BaseModel):
    job: str
    description: str
    cron: str = Field(description="in the city's time zone (the hub's, for hub jobs)")
    default_cron: str
    enabled: bool
    last_run: RunRead | None
    next_run_at: dt.datetime | None

    @classmethod
    def of(cls, status: jobs_admin.JobStatus) -> JobRead:
        last = status.last
        return cls(
            job=status.job.name,
            description=status.job.description,
            cron=status.cron,
            default_cron=status.job.cron,
            enabled=status.enabled,
            last_run=RunRead.model_validate(last, from_attributes=True) if last else None,
            next_run_at=status.next_at,
        )


class JobUpdate(Update):
    cron: str | None = Field(default=None, max_length=120, description="five-field cron")
    enabled: bool | None = None
    default: bool | None = Field(default=None, description="true: back to the job's schedule")


@router.get(
    "/cities/{city}/jobs",
    operation_id="listCityJobs",
    summary="List a city's jobs",
    response_model=Page[JobRead],
)
async def list_city_jobs(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[JobRead]:
    """The city's recurring jobs: schedule, last run and its outcome, next run (staff)."""
    found = await jobs_admin.status_of(
        session=session, jobs=load_jobs(), city=city, zone=ZoneInfo(city.timezone), now=utcnow()
    )
    return page.slice([JobRead.of(s) for s in found], key=lambda x: x.job)


@router.patch(
    "/cities/{city}/jobs/{job}",
    operation_id="updateCityJob",
    summary="Change a city's job schedule",
    response_model=JobRead,
)
async def update_city_job(
    session: SessionDep, staff: CurrentStaff, city: CityDep, job: JobName, job_in: JobUpdate
) -> JobRead:
    """The city's own schedule of a job, or the job switched off or on there (city admin)."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    jobs = load_jobs()
    found = jobs.get_or_raise(job)
    if not found.per_city:
        raise NotFound(f"no job {job!r} in a city (it is the hub's)", code="job_not_found")
    await jobs_admin.configure(
        session=session,
        actor=staff.actor,
        job=found,
        city=city,
        cron=job_in.cron,
        enabled=job_in.enabled,
        default=bool(job_in.default),
    )
    statuses = await jobs_admin.status_of(
        session=session, jobs=jobs, city=city, zone=ZoneInfo(city.timezone), now=utcnow()
    )
    return JobRead.of(next(s for s in statuses if s.job.name == job))


@router.get(
    "/jobs", operation_id="listHubJobs", summary="List the hub's jobs", response_model=Page[JobRead]
)
async def list_hub_jobs(
    session: SessionDep, settings: SettingsDep, staff: CurrentStaff, page: PageDep
) -> Page[JobRead]:
    """The hub's own recurring jobs (operator)."""
    require_staff_role(staff, None)
    zone = ZoneInfo(settings.hub_timezone)
    found = await jobs_admin.status_of(
        session=session, jobs=load_jobs(), city=None, zone=zone, now=utcnow()
    )
    return page.slice([JobRead.of(s) for s in found], key=lambda x: x.job)
