"""Lottery factories: a city with a car-plate lottery service on the simulated vehicle
administration, a channel granted it, a city admin, and rounds, residents and windows."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from cityhub.cities.models import City, Service, ServiceKind
from cityhub.identity.models import Role
from cityhub.lottery.models import LotteryRound
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database, utcnow
from cityhub.simulators import Person, World
from tests.cities.factories import create_city, create_grant
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.helpers import move_past
from tests.identity.factories import (
    PASSWORD,
    ChannelLogin,
    create_channel,
    create_staff,
    prove_link,
    registry_service,
    verify_by_registry,
)

SECRET = "the city's secret for this round: 7f3a9c0e5b21d4686a0c9e17b3f2d5a1"
_seq = itertools.count(1)


def commitment(secret: str = SECRET) -> str:
    """SHA-256 of the secret, as the city publishes it."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class LotteryWorld:
    city: City
    service: Service
    login: ChannelLogin
    channel: Api
    staff: Api
    api: Api

    def url(self, code: str = "", tail: str = "") -> str:
        """A lottery URL of the city: the rounds, one round, or under it."""
        base = f"/v1/cities/{self.city.slug}/lotteries"
        return f"{base}/{code}{tail}" if code else base


async def lottery_world(
    db: Database, api: Api, *, config: dict[str, Any] | None = None
) -> LotteryWorld:
    """A city with a car-plate lottery service, granted to a new channel; a signed-in admin."""
    city = await create_city(db)
    service = await connected_service(
        db,
        city=city,
        code="car-plates",
        connector="simulator:vehicle-admin",
        config=config or {"provider_id": "sh-vehicles"},
        kind=ServiceKind.LOTTERY,
        category="lotteries",
        provider="Vehicle Administration",
    )
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=service)
    admin = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    await registry_service(db, city=city)
    return LotteryWorld(
        city=city,
        service=service,
        login=login,
        channel=await api.as_channel(login.client_id, login.secret),
        staff=await api.as_staff(admin.username, PASSWORD),
        api=api,
    )


def round_body(**changes: Any) -> dict[str, Any]:
    """A round open from a minute ago for an hour, quota 3, committed to `SECRET`."""
    now = utcnow()
    body: dict[str, Any] = {
        "code": f"plates-{next(_seq)}",
        "service": "car-plates",
        "kind": "car-plate",
        "title": "Car plates, December",
        "opens_at": (now - dt.timedelta(minutes=1)).isoformat(),
        "closes_at": (now + dt.timedelta(hours=1)).isoformat(),
        "quota": 3,
        "commitment": commitment(),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def create_round(world: LotteryWorld, **changes: Any) -> dict[str, Any]:
    """A round created by the city admin."""
    created: dict[str, Any] = await world.staff.post(world.url(), json=round_body(**changes))
    return created


async def end_window(db: Database, code: str, clock: Clock) -> None:
    """Time passes: the hub's clock moves past the end of the round's application window."""
    async with db.unit_of_work() as session:
        closes_at = await session.scalar(
            select(LotteryRound.closes_at).where(LotteryRound.code == code)
        )
    assert closes_at is not None, code
    move_past(clock, closes_at)


def eligible(world: World, count: int, *, skip: int = 0) -> list[Person]:
    """People the simulated vehicle administration lets enter the car-plate lottery."""
    found = [p for p in world.people if not world.car_lottery_reasons(p)]
    return found[skip : skip + count]


def ineligible(world: World) -> Person:
    """Someone who already owns a car."""
    return next(p for p in world.people if world.car_lottery_reasons(p))


async def resident(
    channel: Api, user_id: str, person: Person, *, verify: bool = True, phone: bool = False
) -> None:
    """A channel user (with the person's phone if asked), verified as `person` unless told
    otherwise."""
    body = {"user_id": user_id, **({"phone": person.phone} if phone else {})}
    await channel.post("/v1/residents", json=body, expect=201)
    if verify:
        await verify_by_registry(channel, user_id, person.name, person.id_number)


async def apply(
    world: LotteryWorld, code: str, user_id: str, *, expect: int = 201
) -> dict[str, Any]:
    """The channel applies for its user."""
    answer: dict[str, Any] = await world.channel.post(
        world.url(code, "/applications"), json={"user_id": user_id}, expect=expect
    )
    return answer


async def linked_resident(
    world: LotteryWorld, sim_control: Any, user_id: str, person: Person
) -> None:
    """Another user id of a person the hub knows (with their phone), linked by the code sent
    to that phone."""
    await world.channel.post("/v1/residents", json={"user_id": user_id}, expect=201)
    answer = await world.channel.post(
        f"/v1/residents/{user_id}/verification",
        json={
            "name": person.name,
            "id_number": person.id_number,
            "purpose": "real-name",
            "city": world.city.slug,
        },
        expect=202,
    )
    await prove_link(world.channel, sim_control, user_id, answer, person.phone)
