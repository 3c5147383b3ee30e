"""Cities, the service catalogue, and channel grants."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.cities.enums import (
    CityStatus as CityStatus,
    ServiceKind as ServiceKind,
    ServiceStatus as ServiceStatus,
)

# isort: on
from cityhub.identity.enums import IdentityLevel
from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow


class City(Base):
    """A tenant: one city on the hub."""

    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh_hans: Mapped[str] = mapped_column(String(80))
    name_zh_hant: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CityStatus] = mapped_column(str_enum(CityStatus, "city_status"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ServiceCategory(Base):
    """A category of the catalogue, shared by every city (a reference table when sharded)."""

    __tablename__ = "service_categories"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh_hans: Mapped[str] = mapped_column(String(80))
    name_zh_hant: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    # A disabled category takes no new services; those already in it stay where they are.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())


# The categories every hub starts with (a data migration writes them; operators manage them
# afterwards): (code, position, zh-Hans, zh-Hant, en).
STANDARD_CATEGORIES: tuple[tuple[str, int, str, str, str], ...] = (
    ("payments", 10, "生活缴费", "生活繳費", "Bills"),
    ("medical", 20, "医疗健康", "醫療健康", "Health"),
    ("traffic", 30, "交通出行", "交通出行", "Traffic"),
    ("queries", 35, "信息查询", "資訊查詢", "Look-ups"),
    ("social_security", 40, "社会保障", "社會保障", "Social security"),
    ("housing", 50, "住房公积金", "住房公積金", "Housing fund"),
    ("lotteries", 60, "摇号", "搖號", "Lotteries"),
    ("public_info", 70, "公共信息", "公共資訊", "Public information"),
    ("government_affairs", 80, "政务服务", "政務服務", "Government services"),
)


# The identity level a service needs unless the city set another: personal records and
# lotteries need the registry's word, a hospital booking the channel's real-name check, and
# paying a bill nothing (anyone may pay a bill).
DEFAULT_LEVELS = {
    ServiceKind.QUERY: IdentityLevel.AUTHORITY_CHECKED,
    ServiceKind.LOTTERY: IdentityLevel.AUTHORITY_CHECKED,
    ServiceKind.APPOINTMENT: IdentityLevel.CHANNEL_ASSERTED,
}


class Service(TenantMixin, Base):
    """A service a city offers, the provider behind it and the connector that reaches it."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("city_id", "code"),)

    code: Mapped[str] = mapped_column(String(60))
    category_code: Mapped[str] = mapped_column(ForeignKey("service_categories.code"))
    kind: Mapped[ServiceKind] = mapped_column(str_enum(ServiceKind, "service_kind"))
    name_zh_hans: Mapped[str] = mapped_column(String(120))
    name_zh_hant: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120))
    provider: Mapped[str] = mapped_column(String(120))
    provider_names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # its translations
    connector: Mapped[str] = mapped_column(String(120))
    connector_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[ServiceStatus] = mapped_column(str_enum(ServiceStatus, "service_status"))
    # The level the city asked for; empty: the kind's default (`required_level`).
    identity_level: Mapped[IdentityLevel | None] = mapped_column(
        str_enum(IdentityLevel, "identity_level"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def required_level(self) -> IdentityLevel:
        """The identity level a resident needs for this service."""
        return required_level(self.kind, self.identity_level)


def required_level(kind: str, identity_level: str | None) -> IdentityLevel:
    """The identity level a resident needs for a service of this kind and set level."""
    if identity_level is not None:
        return IdentityLevel(identity_level)
    return DEFAULT_LEVELS.get(ServiceKind(kind), IdentityLevel.NONE)


class Grant(TenantMixin, Base):
    """A city lets a channel offer one service. Never exclusive: many channels, one service."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("city_id", "channel_id", "service_id"),
        Index("ix_grants_channel", "channel_id", "city_id"),
        tenant_fk("service_id", "services", ondelete="CASCADE"),
    )

    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    service_id: Mapped[int] = mapped_column(BigId)
    granted_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("staff_users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
