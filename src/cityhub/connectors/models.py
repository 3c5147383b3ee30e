"""Connector descriptions a city stored: providers connected without a release of CityHub."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, TenantMixin, utcnow


class ConnectorDefinition(TenantMixin, Base):
    """A declarative HTTP connector of one city (see connector.schema.json); services use it
    as connector `http` with connector_config `{"definition": name}`."""

    __tablename__ = "connector_definitions"
    __table_args__ = (UniqueConstraint("city_id", "name"),)

    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConnectorSecret(Base):
    """A credential a city's connectors use (`{"secret": name}` in a description), encrypted
    with the hub's data key. Written, rotated and deleted, never read back by anyone: only its
    name and times are shown. A tenant table keyed by (city_id, name), so it has no `id` of
    the `TenantMixin`."""

    __tablename__ = "connector_secrets"

    city_id: Mapped[int] = mapped_column(BigId, ForeignKey("cities.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[dt.datetime | None] = mapped_column(default=None)
