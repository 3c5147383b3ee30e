"""The tables of the recurring jobs: one row per run (the lease that makes it run once), and a
scope's own schedule of a job."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, utcnow


class JobRun(Base):
    """One run of a job for a scope (the hub, or one city) and one scheduled time."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("scope", "job", "due_at"),
        Index("ix_job_runs_city", "city_id", "job", "due_at"),
        Index("ix_job_runs_status", "status", "locked_until"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))  # "hub" or "city:<id>"
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"), default=None)
    job: Mapped[str] = mapped_column(String(60))
    due_at: Mapped[dt.datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(10))  # running | done | failed
    attempts: Mapped[int] = mapped_column(default=1)
    worker: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[dt.datetime] = mapped_column()
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    retry_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class JobSetting(Base):
    """A scope's own schedule of a job, or the job switched off there."""

    __tablename__ = "job_settings"
    __table_args__ = (
        UniqueConstraint("scope", "job"),
        Index("ix_job_settings_city", "city_id", "job"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(40))
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"), default=None)
    job: Mapped[str] = mapped_column(String(60))
    cron: Mapped[str | None] = mapped_column(String(120), default=None)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
