"""Cities, the service catalogue and channel grants: the rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.cities import queries
from cityhub.cities.models import (
    City,
    CityStatus,
    Grant,
    Service,
    ServiceCategory,
    ServiceStatus,
)
from cityhub.cities.schemas import CityCreate, CityUpdate, ServiceCreate, ServiceUpdate
from cityhub.connectors.config import check_config
from cityhub.identity import audit, sandbox
from cityhub.identity import service as identity
from cityhub.platform import cache, events, scheduler

if TYPE_CHECKING:
    from cityhub.identity.models import Channel
from cityhub.platform.errors import Conflict, Forbidden, NotFound
from cityhub.platform.texts import translations


async def get_all_cities(
    *, session: AsyncSession, city_ids: set[int] | None = None, after: int | None, limit: int
) -> list[City]:
    """Cities in id order, from after the cursor; only `city_ids` when given."""
    query = select(City).order_by(City.id).limit(limit)
    if city_ids is not None:
        query = query.where(City.id.in_(city_ids))
    if after:
        query = query.where(City.id > after)
    return list((await session.scalars(query)).all())


async def get_city(*, session: AsyncSession, city_id: int) -> City | None:
    """The city with this id, if any."""
    return await session.get(City, city_id)


async def get_city_by_slug(*, session: AsyncSession, slug: str) -> City | None:
    """The city with this slug, if any (cached in process: every request in a city asks;
    `platform/cache.py` drops it when any city changes)."""
    return await cache.cached_row(
        session, "city", slug, lambda: session.scalar(select(City).where(City.slug == slug))
    )


async def get_city_or_raise(*, session: AsyncSession, slug: str) -> City:
    """The city with this slug, or NotFound."""
    city = await get_city_by_slug(session=session, slug=slug)
    if city is None:
        raise NotFound(f"no city {slug!r}", code="city_not_found")
    return city


async def create_city(*, session: AsyncSession, actor: audit.Actor, city_in: CityCreate) -> City:
    """A new city, onboarding until an operator activates it."""
    if await get_city_by_slug(session=session, slug=city_in.slug):
        raise Conflict(f"city {city_in.slug!r} exists", code="city_exists", field="slug")
    city = City(**city_in.columns(), status=CityStatus.ONBOARDING)
    session.add(city)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="city.create",
        object_type="city",
        object_id=city.slug,
        city_id=city.id,
    )
    return city


async def update_city(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    city: City,
    city_in: CityUpdate,
    may_set_status: bool,
) -> City:
    """Apply the fields that were set; only an operator changes a city's status."""
    changes = city_in.model_dump(exclude_unset=True, exclude={"names"})
    if "status" in changes and not may_set_status:
        raise Forbidden("only an operator changes a city's status", field="status")
    if city_in.names is not None:
        changes.update(city_in.names.columns())
    for name, value in changes.items():
        setattr(city, name, value)
    await audit.append(
        session=session,
        actor=actor,
        action="city.update",
        object_type="city",
        object_id=city.slug,
        city_id=city.id,
        details={"changes": sorted(changes)},
    )
    return city


async def get_all_categories(
    *, session: AsyncSession, include_disabled: bool = True
) -> list[ServiceCategory]:
    """Every category, in display order (the disabled too, unless told otherwise: services
    already in one still show their category's name)."""
    query = select(ServiceCategory).order_by(ServiceCategory.position, ServiceCategory.code)
    if not include_disabled:
        query = query.where(ServiceCategory.active.is_(True))
    return list((await session.scalars(query)).all())


async def get_service_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Service:
    """A city's service by code, or NotFound."""
    service = await session.scalar(
        select(Service).where(Service.city_id == city_id, Service.code == code)
    )
    if service is None:
        raise NotFound(f"no service {code!r} in this city", code="service_not_found")
    return service


async def get_service(*, session: AsyncSession, city_id: int, service_id: int) -> Service | None:
    """A service of the city by id (cached in process: every booking attempt asks for its
    hospital; the caches drop it when any service changes)."""
    found = await cache.cached_row(
        session, "service", service_id, lambda: session.get(Service, service_id)
    )
    return found if found is not None and found.city_id == city_id else None


async def get_all_services(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    category: str | None = None,
    kind: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Service]:
    """A city's services; only those granted to `channel_id` (and active) when it is given."""
    if channel_id is not None:  # test credentials see what their live channel was granted
        channel_id = await sandbox.grant_holder(session=session, channel_id=channel_id)
    query, params = queries.services(
        False, city_id=city_id, channel_id=channel_id, category=category, kind=kind,
        after=after, limit=limit,
    )  # fmt: skip
    return list((await session.scalars(query, params)).all())


async def get_catalogue_rows(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    category: str | None = None,
    kind: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Row[Any]]:
    """The services `get_all_services` finds, as rows of `queries.CATALOGUE_COLUMNS` only: the
    catalogue read loads no ORM entities for an answer that changes nothing."""
    if channel_id is not None:  # test credentials see what their live channel was granted
        channel_id = await sandbox.grant_holder(session=session, channel_id=channel_id)
    query, params = queries.services(
        True, city_id=city_id, channel_id=channel_id, category=category, kind=kind,
        after=after, limit=limit,
    )  # fmt: skip
    return list((await session.execute(query, params)).all())


async def _category_or_raise(session: AsyncSession, code: str) -> None:
    from cityhub.cities import categories

    await categories.require_usable(session=session, code=code)


async def create_service(
    *, session: AsyncSession, actor: audit.Actor, city: City, service_in: ServiceCreate
) -> Service:
    """A new service in the city's catalogue."""
    await _category_or_raise(session, service_in.category)
    check_config(service_in.connector_config)
    exists_already = await session.scalar(
        select(exists().where(Service.city_id == city.id, Service.code == service_in.code))
    )
    if exists_already:
        raise Conflict(f"service {service_in.code!r} exists", code="service_exists", field="code")
    data = service_in.model_dump(exclude={"category", "names", "provider_names"})
    service = Service(
        **data,
        provider_names=translations(service_in.provider_names),
        **service_in.names.columns(),
        city_id=city.id,
        category_code=service_in.category,
        status=ServiceStatus.ACTIVE,
    )
    session.add(service)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="service.create",
        object_type="service",
        object_id=service.code,
        city_id=city.id,
    )
    return service


async def update_service(
    *, session: AsyncSession, actor: audit.Actor, service: Service, service_in: ServiceUpdate
) -> Service:
    """Apply the fields that were set."""
    changes: dict[str, Any] = service_in.model_dump(exclude_unset=True, exclude={"names"})
    if service_in.names is not None:
        changes.update(service_in.names.columns())
    if "provider_names" in changes:
        changes["provider_names"] = translations(service_in.provider_names)
    if changes.get("connector_config") is not None:
        check_config(changes["connector_config"])
    if "category" in changes:
        await _category_or_raise(session, changes["category"])
        changes["category_code"] = changes.pop("category")
    for name, value in changes.items():
        setattr(service, name, value)
    await audit.append(
        session=session,
        actor=actor,
        action="service.update",
        object_type="service",
        object_id=service.code,
        city_id=service.city_id,
        details={"changes": sorted(changes)},
    )
    return service


async def _grants_of(session: AsyncSession, channel_id: int) -> dict[int, frozenset[int]]:
    """The services granted to the channel, by city (cached in process: every call of a channel
    checks a grant; `platform/cache.py` drops it when any grant changes, so a revoked grant is
    refused by the next request in every process)."""

    async def load() -> dict[int, frozenset[int]]:
        # Test credentials hold their live channel's grants (identity/sandbox.py).
        holder = await sandbox.grant_holder(session=session, channel_id=channel_id)
        rows = await session.execute(
            select(Grant.city_id, Grant.service_id).where(Grant.channel_id == holder)
        )
        by_city: dict[int, set[int]] = {}
        for city_id, service_id in rows:
            by_city.setdefault(city_id, set()).add(service_id)
        return {city_id: frozenset(ids) for city_id, ids in by_city.items()}

    return await cache.cached(session, "grants", channel_id, load)


async def granted_city_ids(*, session: AsyncSession, channel_id: int) -> set[int]:
    """The cities in which the channel may offer at least one service."""
    return set(await _grants_of(session, channel_id))


async def require_city_granted(*, session: AsyncSession, channel_id: int, city: City) -> None:
    """Forbidden unless the city granted the channel some service."""
    granted = city.id in await _grants_of(session, channel_id)
    if not granted:
        raise Forbidden(
            f"this channel has no grant in {city.slug}", code="city_not_granted", field="city"
        )


async def require_service_granted(
    *, session: AsyncSession, channel_id: int, service: Service
) -> None:
    """Forbidden unless the city granted this service to the channel."""
    granted = service.id in (await _grants_of(session, channel_id)).get(service.city_id, ())
    if not granted:
        raise Forbidden(
            f"service {service.code!r} is not granted to this channel",
            code="service_not_granted",
            field="service",
        )


async def get_all_grants(
    *, session: AsyncSession, city_id: int, after: int | None = None, limit: int = 50
) -> list[tuple[Grant, Channel, Service]]:
    """A city's grants with their channel and service."""
    query = (
        select(Grant, Service)
        .join(Service, Service.id == Grant.service_id)
        .where(Grant.city_id == city_id)
        .order_by(Grant.id)
        .limit(limit)
    )
    if after:
        query = query.where(Grant.id > after)
    rows = (await session.execute(query)).all()
    channels = await identity.get_channels_by_id(
        session=session, channel_ids={g.channel_id for g, _ in rows}
    )
    return [(g, channels[g.channel_id], s) for g, s in rows if g.channel_id in channels]


async def create_grant(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    city: City,
    channel: Channel,
    service: Service,
    staff_id: int | None,
) -> Grant:
    """Let a channel offer a service; the channel is told by webhook."""
    duplicate = await session.scalar(
        select(
            exists().where(
                Grant.city_id == city.id,
                Grant.channel_id == channel.id,
                Grant.service_id == service.id,
            )
        )
    )
    if duplicate:
        raise Conflict("this channel already has this service", code="grant_exists")
    grant = Grant(
        city_id=city.id, channel_id=channel.id, service_id=service.id, granted_by=staff_id
    )
    session.add(grant)
    await session.flush()
    details = {"channel": channel.slug, "service": service.code}
    await audit.append(
        session=session,
        actor=actor,
        action="grant.create",
        object_type="grant",
        object_id=grant.id,
        city_id=city.id,
        details=details,
    )
    await outbox.enqueue(
        session=session,
        topic="grant.created",
        city_id=city.id,
        payload={"channel_id": channel.id, "city": city.slug, "service": service.code},
    )
    return grant


async def delete_grant(
    *, session: AsyncSession, actor: audit.Actor, city: City, grant_id: int
) -> None:
    """Withdraw a grant; the channel is told by webhook."""
    row = (
        await session.execute(
            select(Grant, Service)
            .join(Service, Service.id == Grant.service_id)
            .where(Grant.city_id == city.id, Grant.id == grant_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no grant {grant_id} in this city", code="grant_not_found")
    grant, service = row
    await session.delete(grant)
    await audit.append(
        session=session,
        actor=actor,
        action="grant.delete",
        object_type="grant",
        object_id=grant_id,
        city_id=city.id,
        details={"channel_id": grant.channel_id, "service": service.code},
    )
    await outbox.enqueue(
        session=session,
        topic="grant.revoked",
        city_id=city.id,
        payload={"channel_id": grant.channel_id, "city": city.slug, "service": service.code},
    )


async def granted_channel_ids(*, session: AsyncSession, city_id: int) -> set[int]:
    """The channels the city granted at least one service."""
    query = select(Grant.channel_id).where(Grant.city_id == city_id).distinct()
    return set((await session.scalars(query)).all())


async def granted_services(
    *, session: AsyncSession, channel_id: int, city_id: int | None = None
) -> dict[int, int]:
    """The services granted to the channel (in one city, when given), each with its city's id
    (whatever their status); from the same per-process cache as the grant checks."""
    by_city = await _grants_of(session, channel_id)
    return {
        service_id: granted_city
        for granted_city, service_ids in by_city.items()
        if city_id is None or granted_city == city_id
        for service_id in service_ids
    }


async def live_cities(*, session: AsyncSession) -> list[City]:
    """Every city that is not suspended, by id (what the per-city jobs run for)."""
    found = await session.scalars(
        select(City).where(City.status != CityStatus.SUSPENDED).order_by(City.id)
    )
    return list(found.all())


async def get_city_slug(*, session: AsyncSession, city_id: int) -> str | None:
    """The slug of the city with this id, if any (what published events are filed under)."""
    return await session.scalar(select(City.slug).where(City.id == city_id))


async def service_ids_of_providers(
    *, session: AsyncSession, city_id: int, providers: frozenset[str]
) -> list[int]:
    """The ids of a city's services run by these providers (what their staff may see)."""
    query = select(Service.id).where(
        Service.city_id == city_id, Service.provider.in_(sorted(providers))
    )
    return [int(i) for i in await session.scalars(query)]


async def service_codes(*, session: AsyncSession, city_id: int) -> list[tuple[int, str]]:
    """(id, code) of every service of a city, the hidden and retired too (names on records)."""
    query = select(Service.id, Service.code).where(Service.city_id == city_id)
    return [(int(i), str(c)) for i, c in (await session.execute(query)).all()]


scheduler.name_cities(live_cities)
events.name_cities(get_city_slug)
