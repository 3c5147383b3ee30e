"""Catalogue factories: cities, categories, services and grants, with default parents."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from cityhub.cities.models import (
    City,
    CityStatus,
    Grant,
    Service,
    ServiceCategory,
    ServiceKind,
    ServiceStatus,
)
from cityhub.identity.models import Channel
from cityhub.platform.db import Database

_seq = itertools.count(1)


async def create_city(db: Database, *, slug: str | None = None) -> City:
    """An active city."""
    slug = slug or f"city-{next(_seq)}"
    async with db.unit_of_work() as session:
        city = City(
            slug=slug,
            name_zh_hans=f"{slug}市",
            name_zh_hant=f"{slug}市",
            name_en=slug.title(),
            timezone="Asia/Shanghai",
            currency="CNY",
            status=CityStatus.ACTIVE,
        )
        session.add(city)
    return city


async def create_category(db: Database, *, code: str = "payments") -> ServiceCategory:
    """A category (the same one again if it exists)."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(ServiceCategory).where(ServiceCategory.code == code))
        if found:
            return found
        category = ServiceCategory(
            code=code, name_zh_hans=code, name_zh_hant=code, name_en=code.title()
        )
        session.add(category)
    return category


async def create_service(
    db: Database,
    *,
    city: City | None = None,
    code: str | None = None,
    kind: ServiceKind = ServiceKind.BILL,
    category: str = "payments",
) -> Service:
    """An active service (in a new city unless one is given)."""
    city = city or await create_city(db)
    await create_category(db, code=category)
    code = code or f"service-{next(_seq)}"
    async with db.unit_of_work() as session:
        service = Service(
            city_id=city.id,
            code=code,
            category_code=category,
            kind=kind,
            name_zh_hans=code,
            name_zh_hant=code,
            name_en=code.title(),
            provider="Test Provider",
            connector="simulator",
            connector_config={},
            status=ServiceStatus.ACTIVE,
        )
        session.add(service)
    return service


async def create_grant(db: Database, *, channel: Channel, service: Service) -> Grant:
    """Grant the service to the channel."""
    async with db.unit_of_work() as session:
        grant = Grant(city_id=service.city_id, channel_id=channel.id, service_id=service.id)
        session.add(grant)
    return grant


async def get_city(db: Database, city_id: int) -> City:
    """The city with this id (a service's city, say)."""
    async with db.unit_of_work() as session:
        city = await session.get(City, city_id)
    assert city is not None
    return city
