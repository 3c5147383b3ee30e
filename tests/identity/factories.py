"""Identity factories: staff, channels and residents, with default parents."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cityhub.cities.models import City
from cityhub.identity import security
from cityhub.identity import service as identity
from cityhub.identity.models import Channel, Role, StaffUser
from cityhub.identity.pii import Vault, id_check_digit
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.outbound import OutboundPolicy
from tests.client import Api

PASSWORD = "correct horse battery staple"
# The tests' webhook receivers listen on this machine: allowed as an operator would allow them.
LOCAL_RECEIVERS = OutboundPolicy(frozenset({"127.0.0.1"}))
SECRET = "channel-secret-for-tests"
_seq = itertools.count(1)


@lru_cache
def _hash(value: str) -> str:
    # argon2 is slow on purpose: hash the shared test credentials once per run.
    return security.hash_password(value)


def vault() -> Vault:
    """The vault of the test settings' keys."""
    return Vault.from_settings(Settings(env="test"))


@dataclass
class ChannelLogin:
    channel: Channel
    client_id: str
    secret: str = SECRET


async def create_channel(
    db: Database,
    *,
    slug: str | None = None,
    scopes: tuple[str, ...] = tuple(security.SCOPES),
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
) -> ChannelLogin:
    """A channel with every scope unless told otherwise; its login uses `SECRET`."""
    slug = slug or f"channel-{next(_seq)}"
    async with db.unit_of_work() as session:
        channel = await identity.create_channel(
            session=session,
            vault=vault(),
            slug=slug,
            name=slug.title(),
            client_id=f"ch_{slug}",
            client_secret=SECRET,
            secret_hash=_hash(SECRET),
            scopes=scopes,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            outbound=LOCAL_RECEIVERS,
        )
    return ChannelLogin(channel=channel, client_id=channel.client_id)


async def create_staff(
    db: Database,
    *,
    city: City | None = None,
    role: Role = Role.CITY_ADMIN,
    username: str | None = None,
    password: str = PASSWORD,
    provider: str | None = None,
) -> StaffUser:
    """A staff member with one role (in `city`, or every city for the operator); `PASSWORD`
    unless told otherwise; a provider_staff role bound to `provider`."""
    username = username or f"staff{next(_seq)}"
    async with db.unit_of_work() as session:
        return await identity.create_staff(
            session=session,
            username=username,
            display_name=username.title(),
            password=password,
            password_hash=_hash(password),
            roles=[(None if role == Role.OPERATOR else city.id if city else None, role)],
            providers={city.id: provider} if city and provider else None,
        )


def id_number(serial: int, region: str = "310101", birth: str = "19900307") -> str:
    """A valid mainland identity number."""
    first17 = f"{region}{birth}{serial % 1000:03d}"
    return first17 + id_check_digit(first17)


async def registry_service(db: Database, *, city: City, provider_id: str = "sh-registry") -> None:
    """The city's population registry on the simulator (an `identity` service)."""
    from cityhub.cities.models import ServiceKind
    from tests.connectors.factories import connected_service

    await connected_service(
        db,
        city=city,
        code="population-registry",
        connector="simulator:population-registry",
        config={"provider_id": provider_id},
        kind=ServiceKind.IDENTITY,
        category="government_affairs",
        provider="Population Registry",
    )


async def granted_city(channel: Api) -> str:
    """The slug of the (first) city that granted the channel something."""
    cities: list[str] = (await channel.get("/v1/channel"))["cities"]
    return cities[0]


async def verify_by_registry(
    channel: Api, user_id: str, name: str, id_number: str, *, city: str | None = None
) -> dict[str, Any]:
    """The channel verifies its user through the city's population registry."""
    answer: dict[str, Any] = await channel.post(
        f"/v1/residents/{user_id}/verification",
        json={
            "name": name,
            "id_number": id_number,
            "purpose": "real-name",
            "city": city or await granted_city(channel),
        },
        expect=200,
    )
    assert answer["identity_level"] == "authority_checked"
    return answer


def last_code(sim_control: Any, phone: str) -> str:
    """The six digits of the last text message the simulated gateway took for `phone` (it
    lists the newest first)."""
    import re

    texts = sim_control.get("/sms/sim-sms/messages", params={"to": phone}).json()["messages"]
    assert texts, f"no text message to {phone}"
    found = re.search(r"\b(\d{6})\b", texts[0]["text"])
    assert found is not None
    return found.group(1)


async def prove_link(
    channel: Api, sim_control: Any, user_id: str, answer: dict[str, Any], phone: str
) -> dict[str, Any]:
    """Enter the code sent to the person's phone for a 202 verification `answer`."""
    link = answer["link"]
    assert link["method"] == "sms_code" and link["phone"] == phone[:3] + "****" + phone[-4:]
    proven: dict[str, Any] = await channel.post(
        f"/v1/residents/{user_id}/link-requests/{link['id']}/code",
        json={"code": last_code(sim_control, phone)},
        expect=200,
    )
    return proven
