"""Connector factories: services connected to a provider, with default parents."""

from __future__ import annotations

from typing import Any

from cityhub.cities.models import City, Service, ServiceKind
from cityhub.platform.db import Database
from tests.cities.factories import create_service


async def connected_service(
    db: Database,
    *,
    connector: str,
    config: dict[str, Any],
    kind: ServiceKind = ServiceKind.BILL,
    city: City | None = None,
    code: str | None = None,
    category: str = "payments",
    provider: str = "Test Provider",
) -> Service:
    """An active service (in a new city unless one is given) reached by this connector."""
    service = await create_service(db, city=city, code=code, kind=kind, category=category)
    async with db.unit_of_work() as session:
        row = await session.get(Service, service.id)
        assert row is not None
        row.connector, row.connector_config, row.provider = connector, config, provider
    service.connector, service.connector_config, service.provider = connector, config, provider
    return service
