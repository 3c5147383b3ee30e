"""A complaint and each change of its status (when, by whom, why)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.complaints.enums import (
    OPEN,
    PAYMENT_TYPES,
    ComplaintStatus,
    ComplaintType,
)
from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow

__all__ = [
    "OPEN",
    "PAYMENT_TYPES",
    "Complaint",
    "ComplaintEvent",
    "ComplaintStatus",
    "ComplaintType",
]


class Complaint(TenantMixin, Base):
    """A channel's complaint; `service_id` is the biller's service (the payment's, or the one
    complained of), which says which provider staff may answer it."""

    __tablename__ = "complaints"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        Index("ix_complaints_channel", "city_id", "channel_id", "id"),
        Index("ix_complaints_due", "city_id", "status", "due_at"),
        tenant_fk("service_id", "services"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    user_id: Mapped[str | None] = mapped_column(String(80), default=None)
    type: Mapped[ComplaintType] = mapped_column(str_enum(ComplaintType, "complaint_type"))
    status: Mapped[ComplaintStatus] = mapped_column(str_enum(ComplaintStatus, "complaint_status"))
    payment_public_id: Mapped[str | None] = mapped_column(String(40), default=None)
    service_id: Mapped[int] = mapped_column(BigId)
    description: Mapped[str] = mapped_column(String(1000))
    assigned_to: Mapped[str | None] = mapped_column(String(120), default=None)
    resolution: Mapped[str | None] = mapped_column(String(1000), default=None)
    refund_public_id: Mapped[str | None] = mapped_column(String(40), default=None)
    due_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ComplaintEvent(TenantMixin, Base):
    """One change of a complaint's status."""

    __tablename__ = "complaint_events"
    __table_args__ = (tenant_fk("complaint_id", "complaints", ondelete="CASCADE"),)

    complaint_id: Mapped[int] = mapped_column(BigId, index=True)
    status: Mapped[ComplaintStatus] = mapped_column(
        str_enum(ComplaintStatus, "complaint_event_status")
    )
    actor: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(1000), default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
