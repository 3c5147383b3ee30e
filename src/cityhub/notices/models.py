"""Government accounts, topics, followers, templates, notices, inboxes and deliveries.

The inbox row (`NoticeRecipient`) is the unit of "exactly once": one per (notice, resident),
guarded by a unique key, written by the fan-out in chunks that each commit with the outbox
record of the chunk. Deliveries to push routes (a channel, SMS, email) hang off it, one row per
route tried, so a resident gets a notice on one route at a time and a new route only once the
previous one failed for good.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.identity import residents
from cityhub.platform.db import Base, BigId, TenantMixin, tenant_fk, utcnow


class GovAccount(TenantMixin, Base):
    """An agency's account in one city (the water company, the traffic police)."""

    __tablename__ = "notice_accounts"
    __table_args__ = (
        UniqueConstraint("city_id", "code"),
        tenant_fk("service_id", "services"),
    )

    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(120))
    agency: Mapped[str] = mapped_column(String(120))
    # translations (cityhub.platform.texts): the plain column is shown when one is missing
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    agency_names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The bill service this account speaks for (bill reminders, audiences of its customers).
    service_id: Mapped[int | None] = mapped_column(BigId, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NoticeTopic(TenantMixin, Base):
    """A topic of an account ("water outages, Pudong")."""

    __tablename__ = "notice_topics"
    __table_args__ = (
        UniqueConstraint("city_id", "account_id", "code"),
        tenant_fk("account_id", "notice_accounts"),
    )

    account_id: Mapped[int] = mapped_column(BigId)
    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations of `name`
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Follow(TenantMixin, Base):
    """A resident follows an account (`topic` empty) or one of its topics."""

    __tablename__ = "notice_follows"
    __table_args__ = (
        UniqueConstraint("city_id", "account_id", "resident_id", "topic"),
        Index("ix_notice_follows_fanout", "city_id", "account_id", "resident_id"),
        Index("ix_notice_follows_resident", "resident_id", "city_id"),
        tenant_fk("account_id", "notice_accounts"),
    )

    account_id: Mapped[int] = mapped_column(BigId)
    topic: Mapped[str] = mapped_column(String(60), default="")
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NoticeTemplate(TenantMixin, Base):
    """An account's template: texts per language and typed placeholders."""

    __tablename__ = "notice_templates"
    __table_args__ = (
        UniqueConstraint("city_id", "account_id", "code"),
        tenant_fk("account_id", "notice_accounts"),
    )

    account_id: Mapped[int] = mapped_column(BigId)
    code: Mapped[str] = mapped_column(String(60))
    placeholders: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name -> type
    texts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # lang -> {title, body}
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NoticeSettings(TenantMixin, Base):
    """A city's rules for pushes: quiet hours (city time), daily cap, conversion window."""

    __tablename__ = "notice_settings"
    __table_args__ = (UniqueConstraint("city_id"),)

    quiet_start: Mapped[int] = mapped_column(default=22 * 60)  # minutes after local midnight
    quiet_end: Mapped[int] = mapped_column(default=8 * 60)
    daily_cap: Mapped[int] = mapped_column(default=3)
    conversion_days: Mapped[int] = mapped_column(default=7)


class Notice(TenantMixin, Base):
    """One notice: what it says (rendered per language) and to whom it goes."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("city_id", "dedupe_key"),
        Index("ix_notices_city_ref", "city_id", "ref"),
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("account_id", "notice_accounts"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(20))  # broadcast | targeted | transactional
    urgent: Mapped[bool] = mapped_column(default=False)
    template: Mapped[str] = mapped_column(String(60))
    texts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # lang -> {title, body}
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ref: Mapped[str | None] = mapped_column(String(160), default=None)  # bill:water:B-1
    link: Mapped[str | None] = mapped_column(String(400), default=None)
    dedupe_key: Mapped[str | None] = mapped_column(String(160), default=None)
    status: Mapped[str] = mapped_column(String(12), default="fanning")  # fanning | sent
    recipients: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    fanned_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class NoticeRecipient(TenantMixin, Base):
    """A notice in one resident's inbox: read, opened, acted on."""

    __tablename__ = "notice_inbox"
    __table_args__ = (
        UniqueConstraint("city_id", "notice_id", "resident_id"),
        Index("ix_notice_inbox_resident", "resident_id", "id"),
        tenant_fk("notice_id", "notices"),
    )

    notice_id: Mapped[int] = mapped_column(BigId)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    opened_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    acted_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    acted_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    acted_currency: Mapped[str | None] = mapped_column(String(3), default=None)


class NoticeDelivery(TenantMixin, Base):
    """One route tried for one inbox row: `channel:<id>`, `sms` or `email`."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("city_id", "recipient_id", "route"),
        Index("ix_notice_deliveries_status", "city_id", "status", "id"),
        Index("ix_notice_deliveries_notice", "city_id", "notice_id", "status"),
        tenant_fk("notice_id", "notices"),
        tenant_fk("recipient_id", "notice_inbox"),
    )

    notice_id: Mapped[int] = mapped_column(BigId)
    recipient_id: Mapped[int] = mapped_column(BigId)
    route: Mapped[str] = mapped_column(String(40))
    # pending | sent | failed (fell back, or nothing left: a dead letter) | capped
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class PushCount(TenantMixin, Base):
    """Pushes a resident got on one day of the city's calendar (the daily cap)."""

    __tablename__ = "notice_push_counts"
    __table_args__ = (UniqueConstraint("city_id", "resident_id", "day"),)

    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    day: Mapped[dt.date] = mapped_column()
    pushes: Mapped[int] = mapped_column(default=0)


class NoticePreference(Base):
    """How a resident wants notices pushed (hub-wide, like the resident)."""

    __tablename__ = "notice_preferences"

    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"), primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id"), default=None)
    language: Mapped[str] = mapped_column(String(8), default="zh-Hans")
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    email_masked: Mapped[str | None] = mapped_column(String(120), default=None)
    sms: Mapped[bool] = mapped_column(default=True)
    email: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedBillerAccount(TenantMixin, Base):
    """A resident's account at a biller (bill reminders; audiences by biller and district)."""

    __tablename__ = "notice_biller_accounts"
    __table_args__ = (
        UniqueConstraint("city_id", "service_id", "account", "resident_id"),
        Index("ix_notice_biller_accounts_audience", "city_id", "service_id", "district"),
        tenant_fk("service_id", "services"),
    )

    service_id: Mapped[int] = mapped_column(BigId)
    account: Mapped[str] = mapped_column(String(80))
    district: Mapped[str] = mapped_column(String(60), default="")
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


async def move_resident(session: AsyncSession, from_id: int, to_id: int) -> None:
    """Verification found that resident `from_id` is the known person `to_id`: their follows,
    saved biller accounts, inbox and preferences go with them (what `to_id` already has wins)."""
    for model, same in (
        (Follow, ("city_id", "account_id", "topic")),
        (SavedBillerAccount, ("city_id", "service_id", "account")),
        (NoticeRecipient, ("notice_id",)),
        (NoticePreference, ()),
    ):
        table: Any = model.__table__
        other = table.alias("other")
        duplicate = (
            select(other.c.resident_id)
            .where(other.c.resident_id == to_id, *(other.c[c] == table.c[c] for c in same))
            .exists()
        )
        await session.execute(
            update(table)
            .where(table.c.resident_id == from_id, ~duplicate)
            .values(resident_id=to_id)
        )
        if model is not NoticeRecipient:  # an inbox row may carry deliveries: it stays, unseen
            await session.execute(delete(table).where(table.c.resident_id == from_id))


residents.on_resident_merged(move_resident)
