"""The outbox's tables: events to carry out after a commit, and the handlers that finished each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, utcnow


class OutboxEvent(Base):
    """Something that happened and must be carried out after the commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "available_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"), default=None)
    topic: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    available_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | done | dead
    locked_by: Mapped[str | None] = mapped_column(String(80), default=None)
    locked_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    done_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OutboxHandled(Base):
    """A handler that finished an event: the record that makes re-runs skip it."""

    __tablename__ = "outbox_handled"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    handler: Mapped[str] = mapped_column(String(80), primary_key=True)
    done_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
