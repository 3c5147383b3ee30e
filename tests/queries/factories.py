"""Query factories: a city whose query services reach the simulators, a channel granted
them, and residents as a channel registers, verifies and asks consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityhub.cities.models import City, Service, ServiceKind
from cityhub.platform.db import Database
from cityhub.simulators import Person
from tests.cities.factories import create_city, create_grant
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.identity.factories import (
    ChannelLogin,
    create_channel,
    registry_service,
    verify_by_registry,
)

QUERY_SERVICES = {
    "traffic-violations": ("simulator:traffic", "sh-traffic", "traffic_violations"),
    "social-insurance": ("simulator:social-insurance", "sh-si", "social_insurance"),
    "housing-fund": ("simulator:housing-fund", "sh-hf", "housing_fund"),
    "air-quality": ("simulator:environment", "sh-env", "air_quality"),
    "planned-outages": ("simulator:outages", "sh-out", "planned_outages"),
}


@dataclass
class QueryWorld:
    city: City
    services: dict[str, Service]
    login: ChannelLogin
    channel: Api

    def url(self, code: str) -> str:
        """Where a query service runs."""
        return f"/v1/cities/{self.city.slug}/services/{code}/queries"


async def query_world(
    db: Database, api: Api, *, resilience: dict[str, Any] | None = None
) -> QueryWorld:
    """A city with every query service, granted to a new channel with every scope."""
    city = await create_city(db)
    login = await create_channel(db)
    services = {}
    for code, (connector, provider_id, query) in QUERY_SERVICES.items():
        config: dict[str, Any] = {"provider_id": provider_id, "query": query}
        if resilience:
            config["resilience"] = resilience
        services[code] = await connected_service(
            db,
            city=city,
            code=code,
            connector=connector,
            config=config,
            kind=ServiceKind.QUERY,
            category="queries",
            provider=f"{code} bureau",
        )
        await create_grant(db, channel=login.channel, service=services[code])
    await registry_service(db, city=city)
    channel = await api.as_channel(login.client_id, login.secret)
    return QueryWorld(city=city, services=services, login=login, channel=channel)


async def resident(
    channel: Api, user_id: str, person: Person, *, verify: bool = True, consent: bool = True
) -> None:
    """A channel user, verified as `person` and consenting to record look-ups if asked."""
    await channel.post("/v1/residents", json={"user_id": user_id}, expect=201)
    if verify:
        await verify_by_registry(channel, user_id, person.name, person.id_number)
    if consent:
        await channel.post(
            f"/v1/residents/{user_id}/consents",
            json={"scope": "records", "purpose": "show me my records"},
        )
