"""Tables of service requests: the city's calendar and area, departments, request types,
requests, their timeline, photos, followers, and Open311 keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.requests.enums import (
    OPEN_STATUSES as OPEN_STATUSES,
    RequestStatus as RequestStatus,
)

# isort: on
from cityhub.platform.db import Base, BigId, JsonType, TenantMixin, str_enum, tenant_fk, utcnow


class RequestSettings(TenantMixin, Base):
    """A city's rules for requests: its working calendar, its area and districts, the reopen
    window and whether open requests are published."""

    __tablename__ = "request_settings"
    __table_args__ = (UniqueConstraint("city_id"),)

    # ISO weekdays (1 = Monday) that are working days, and the working periods of such a day
    # as [["09:00", "12:00"], ["13:30", "17:30"]] in the city's time.
    workdays: Mapped[list[int]] = mapped_column(JsonType)
    periods: Mapped[list[list[str]]] = mapped_column(JsonType)
    holidays: Mapped[list[str]] = mapped_column(JsonType)
    # Weekend days worked instead of a holiday (China's make-up working days).
    extra_workdays: Mapped[list[str]] = mapped_column(JsonType)
    # The city's area {"south", "west", "north", "east"} and its districts
    # [{"code", "names": {lang: name}, "bbox": [south, west, north, east]}].
    area: Mapped[dict[str, Any]] = mapped_column()
    districts: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    triage_hours: Mapped[int] = mapped_column(default=4)
    reopen_days: Mapped[int] = mapped_column(default=7)
    publish_open: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Department(TenantMixin, Base):
    """A city department that handles requests; its head is told of overdue ones."""

    __tablename__ = "request_departments"
    __table_args__ = (UniqueConstraint("city_id", "code"),)

    code: Mapped[str] = mapped_column(String(60))
    names: Mapped[dict[str, Any]] = mapped_column()
    head_staff_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DepartmentMember(TenantMixin, Base):
    """A staff member who handles a department's requests."""

    __tablename__ = "request_department_members"
    __table_args__ = (
        UniqueConstraint("city_id", "department_id", "staff_id"),
        tenant_fk("department_id", "request_departments", ondelete="CASCADE"),
    )

    department_id: Mapped[int] = mapped_column(BigId)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id"))


class RequestType(TenantMixin, Base):
    """What a resident can report (an Open311 service): who handles it, by when (working
    hours), and the attributes asked."""

    __tablename__ = "request_types"
    __table_args__ = (
        UniqueConstraint("city_id", "code"),
        tenant_fk("department_id", "request_departments"),
    )

    code: Mapped[str] = mapped_column(String(60))
    group: Mapped[str] = mapped_column(String(60))
    keywords: Mapped[str] = mapped_column(String(400), default="")
    names: Mapped[dict[str, Any]] = mapped_column()
    descriptions: Mapped[dict[str, Any]] = mapped_column()
    department_id: Mapped[int] = mapped_column(BigId)
    sla_hours: Mapped[int] = mapped_column()
    # [{"code", "datatype", "required", "order", "descriptions": {lang: text},
    #   "values": [{"key", "names": {lang: text}}]}]
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServiceRequest(TenantMixin, Base):
    """One reported problem and where its handling stands."""

    __tablename__ = "service_requests"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        Index("ix_service_requests_status", "city_id", "status", "due_at"),
        Index("ix_service_requests_type", "city_id", "type_id", "status"),
        Index("ix_service_requests_resident", "city_id", "resident_id"),
        tenant_fk("type_id", "request_types"),
        tenant_fk("department_id", "request_departments"),
        tenant_fk("merged_into_id", "service_requests"),
    )

    public_id: Mapped[str] = mapped_column(String(24))
    type_id: Mapped[int] = mapped_column(BigId)
    department_id: Mapped[int] = mapped_column(BigId)
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus, "request_status"))
    description: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    address: Mapped[str | None] = mapped_column(String(300), default=None)
    district: Mapped[str | None] = mapped_column(String(60), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id"), default=None)
    resident_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("residents.id"), default=None)
    # Open311 reporters may leave a name, email and phone: encrypted, never shown unmasked.
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    assignee_staff_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("staff_users.id"), default=None
    )
    merged_into_id: Mapped[int | None] = mapped_column(BigId, default=None)
    hold_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    held_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    triage_due_at: Mapped[dt.datetime] = mapped_column()
    due_at: Mapped[dt.datetime] = mapped_column()
    warned_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    triaged_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    reopened: Mapped[int] = mapped_column(default=0)
    rating: Mapped[int | None] = mapped_column(default=None)
    rating_comment: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RequestEvent(TenantMixin, Base):
    """One step of a request's timeline; public steps are what the resident and Open311 see."""

    __tablename__ = "request_events"
    __table_args__ = (
        Index("ix_request_events_request", "city_id", "request_id", "id"),
        tenant_fk("request_id", "service_requests", ondelete="CASCADE"),
    )

    request_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(30))
    public: Mapped[bool] = mapped_column()
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestPhoto(TenantMixin, Base):
    """A photo of a request, stored in the data folder."""

    __tablename__ = "request_photos"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("request_id", "service_requests", ondelete="CASCADE"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[int] = mapped_column(BigId)
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(200))
    location_kept: Mapped[bool] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RequestFollower(TenantMixin, Base):
    """A resident told of a request's steps: its reporter, and those who said "same problem"."""

    __tablename__ = "request_followers"
    __table_args__ = (
        UniqueConstraint("city_id", "request_id", "resident_id"),
        tenant_fk("request_id", "service_requests", ondelete="CASCADE"),
    )

    request_id: Mapped[int] = mapped_column(BigId)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Open311Key(TenantMixin, Base):
    """An Open311 `api_key` the city issued to a channel (only its SHA-256 is kept)."""

    __tablename__ = "request_api_keys"
    __table_args__ = (UniqueConstraint("city_id", "key_hash"),)

    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    key_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
