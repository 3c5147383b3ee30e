"""Lottery rounds and the applications to them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.lottery.enums import (
    ApplicationStatus as ApplicationStatus,
    RoundStatus as RoundStatus,
)

# isort: on
from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow


class LotteryRound(TenantMixin, Base):
    """One round of a lottery service: its window, quota, rules and verifiable draw."""

    __tablename__ = "lottery_rounds"
    __table_args__ = (
        UniqueConstraint("city_id", "code"),
        tenant_fk("service_id", "services"),
    )

    code: Mapped[str] = mapped_column(String(60))
    service_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(40))  # what the provider calls it: car-plate
    title: Mapped[str] = mapped_column(String(200))
    titles: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations of `title`
    opens_at: Mapped[dt.datetime] = mapped_column()
    closes_at: Mapped[dt.datetime] = mapped_column()
    quota: Mapped[int] = mapped_column()
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[RoundStatus] = mapped_column(str_enum(RoundStatus, "lottery_round_status"))
    commitment: Mapped[str] = mapped_column(String(64))
    sealed_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    secret: Mapped[str | None] = mapped_column(String(200), default=None)
    public_value: Mapped[str | None] = mapped_column(String(200), default=None)
    applicants_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    applicant_count: Mapped[int] = mapped_column(default=0)
    excluded_count: Mapped[int] = mapped_column(default=0)
    seed: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    drawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    published_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class LotteryApplication(TenantMixin, Base):
    """A person's entry in one round, known in public only by its pseudonymous id."""

    __tablename__ = "lottery_applications"
    __table_args__ = (
        UniqueConstraint("city_id", "round_id", "resident_id"),
        Index("ix_lottery_applications_round_status", "city_id", "round_id", "status"),
        Index("ix_lottery_applications_failures", "city_id", "resident_id", "service_id", "status"),
        tenant_fk("round_id", "lottery_rounds"),
        tenant_fk("service_id", "services"),
        UniqueConstraint("city_id", "application_id"),
    )

    round_id: Mapped[int] = mapped_column(BigId)
    service_id: Mapped[int] = mapped_column(BigId)
    application_id: Mapped[str] = mapped_column(String(32))
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    status: Mapped[ApplicationStatus] = mapped_column(
        str_enum(ApplicationStatus, "lottery_application_status")
    )
    failures: Mapped[int] = mapped_column(default=0)
    tickets: Mapped[int] = mapped_column(default=1)
    excluded_reason: Mapped[str | None] = mapped_column(String(400), default=None)
    score: Mapped[str | None] = mapped_column(String(64), default=None)
    position: Mapped[int | None] = mapped_column(default=None)
    applied_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)
