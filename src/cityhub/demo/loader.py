"""Loads the demo world into a database once, and lists its logins."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.models import City, CityStatus, Grant, Service, ServiceCategory, ServiceStatus
from cityhub.db import utcnow
from cityhub.demo import world
from cityhub.identity import audit, security
from cityhub.identity import service as identity
from cityhub.identity.models import ChannelUser, Consent, Resident
from cityhub.identity.pii import Vault, id_check_digit, mask_id_number, mask_phone
from cityhub.simulators import World

SEED = 42
DEFAULT_RESIDENTS = 3000
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
    "许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华建国志文慧婷宇浩晨欣怡子涵一诺梓轩"


# The demo's passwords are fixed: hash each once per process (argon2 is slow on purpose).
_hash = lru_cache(maxsize=None)(security.hash_password)


@dataclass(frozen=True)
class LoadReport:
    """What a load did (all zero when the world was already there)."""

    cities: int = 0
    services: int = 0
    grants: int = 0
    staff: int = 0
    channels: int = 0
    residents: int = 0

    @property
    def loaded(self) -> bool:
        """Whether anything was loaded now."""
        return self.cities > 0


@dataclass(frozen=True)
class DemoPerson:
    name: str
    id_number: str
    phone: str


def people(count: int) -> list[DemoPerson]:
    """Deterministic demo residents; the first ones are the simulators' own people, so their
    records, plates and accounts exist at the providers."""
    found = [DemoPerson(p.name, p.id_number, p.phone) for p in World(SEED).people[:count]]
    rng = random.Random(SEED)
    taken = {p.id_number for p in found} | {p.phone for p in found}
    while len(found) < count:
        city = rng.choice(world.CITIES)
        birth = f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        first17 = f"{city.region}{birth}{rng.randint(0, 999):03d}"
        id_number = first17 + id_check_digit(first17)
        phone = f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}"
        if id_number in taken or phone in taken:
            continue
        taken |= {id_number, phone}
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        found.append(DemoPerson(name, id_number, phone))
    return found


def user_id(channel: world.DemoChannel, index: int) -> str:
    """The channel's own id for demo resident number `index`."""
    return f"{channel.slug}-u{index:05d}"


def assignments(count: int) -> list[tuple[int, list[world.DemoChannel], bool]]:
    """For each resident: the channels they use (one in ten uses two) and whether verified."""
    rng = random.Random(SEED + 1)
    out = []
    for index in range(count):
        first = world.CHANNELS[index % len(world.CHANNELS)]
        used = [first]
        if index % 10 == 3:
            used.append(world.CHANNELS[(index + 1) % len(world.CHANNELS)])
        verified = index < 100 or rng.random() < 0.85
        out.append((index, used, verified))
    return out


async def _catalogue(session: AsyncSession) -> tuple[list[City], dict[str, list[Service]]]:
    for code, position, zh_hans, zh_hant, en in world.CATEGORIES:
        if await session.get(ServiceCategory, code) is None:
            session.add(ServiceCategory(code=code, position=position, name_zh_hans=zh_hans,
                                        name_zh_hant=zh_hant, name_en=en))  # fmt: skip
    cities, services = [], {}
    for demo in world.CITIES:
        city = City(slug=demo.slug, name_zh_hans=demo.zh_hans, name_zh_hant=demo.zh_hant,
                    name_en=demo.en, timezone=demo.timezone, currency="CNY",
                    status=CityStatus.ACTIVE)  # fmt: skip
        session.add(city)
        await session.flush()
        rows = [
            Service(
                city_id=city.id,
                code=s.code,
                category_code=s.category,
                kind=s.kind,
                name_zh_hans=s.zh_hans,
                name_zh_hant=s.zh_hant,
                name_en=s.en,
                provider=s.provider,
                connector=s.connector,
                connector_config=s.config,
                status=ServiceStatus.ACTIVE,
            )  # fmt: skip
            for s in world.services_of(demo)
        ]
        session.add_all(rows)
        cities.append(city)
        services[demo.slug] = rows
    await session.flush()
    return cities, services


async def _residents(
    session: AsyncSession, vault: Vault, channel_ids: dict[str, int], count: int
) -> None:
    persons = people(count)
    plan = assignments(count)
    now = utcnow()
    residents = []
    for person, (_, _, verified) in zip(persons, plan, strict=True):
        resident = Resident(
            phone_enc=vault.encrypt(person.phone),
            phone_hash=vault.lookup_hash("phone", person.phone),
            phone_masked=mask_phone(person.phone),
        )
        if verified:
            resident.name_enc = vault.encrypt(person.name)
            resident.id_number_enc = vault.encrypt(person.id_number)
            resident.id_number_hash = vault.lookup_hash("id", person.id_number)
            resident.id_number_masked = mask_id_number(person.id_number)
            resident.verified_at = now
        residents.append(resident)
    session.add_all(residents)
    await session.flush()
    links, consents = [], []
    for resident, (index, used, verified) in zip(residents, plan, strict=True):
        for channel in used:
            channel_id = channel_ids[channel.slug]
            links.append(ChannelUser(channel_id=channel_id, channel_user_id=user_id(channel, index),
                                     resident_id=resident.id))  # fmt: skip
            if verified:
                consents += [
                    Consent(resident_id=resident.id, channel_id=channel_id, scope="identity",
                            purpose="实名认证 real-name verification"),
                    Consent(resident_id=resident.id, channel_id=channel_id, scope="records",
                            purpose="查询本人记录 look up my own records"),
                ]  # fmt: skip
    session.add_all(links)
    session.add_all(consents)
    await session.flush()


async def load(
    *, session: AsyncSession, vault: Vault, residents: int = DEFAULT_RESIDENTS
) -> LoadReport:
    """Load the demo world unless it is there already (then nothing changes)."""
    if await session.scalar(select(City.id).where(City.slug == world.CITIES[0].slug)):
        return LoadReport()
    cities, services = await _catalogue(session)
    channel_ids = {}
    for demo in world.CHANNELS:
        channel = await identity.create_channel(
            session=session, vault=vault, slug=demo.slug, name=demo.name, kind=demo.kind,
            client_id=demo.client_id, client_secret=demo.secret, scopes=world.CHANNEL_SCOPES,
            secret_hash=_hash(demo.secret),
        )  # fmt: skip
        channel_ids[demo.slug] = channel.id
    grants = 0
    for index, (demo_city, city) in enumerate(zip(world.CITIES, cities, strict=True)):
        for demo_service, service in zip(
            world.services_of(demo_city), services[demo_city.slug], strict=True
        ):
            for demo_channel in world.CHANNELS:
                if world.granted(demo_channel, index, demo_city, demo_service):
                    session.add(Grant(city_id=city.id, channel_id=channel_ids[demo_channel.slug],
                                      service_id=service.id))  # fmt: skip
                    grants += 1
    city_ids = {c.slug: c.id for c in cities}
    demo_staff = world.staff()
    for person in demo_staff:
        await identity.create_staff(
            session=session, username=person.username, display_name=person.username,
            password=person.password, password_hash=_hash(person.password),
            roles=[(city_ids[person.city] if person.city else None, person.role)],
        )  # fmt: skip
    await _residents(session, vault, channel_ids, residents)
    actor = audit.Actor.system()
    for city in cities:
        count = len(services[city.slug])
        await audit.append(
            session=session, actor=actor, action="demo.load", object_type="city",
            object_id=city.slug, city_id=city.id,
            details={"services": count, "staff": 3},
        )  # fmt: skip
    await audit.append(
        session=session, actor=actor, action="demo.load", object_type="hub", object_id="demo",
        details={"cities": len(cities), "channels": len(channel_ids), "residents": residents},
    )  # fmt: skip
    return LoadReport(
        cities=len(cities),
        services=sum(len(v) for v in services.values()),
        grants=grants,
        staff=len(demo_staff),
        channels=len(channel_ids),
        residents=residents,
    )


def credentials(sample_residents: int = 5) -> dict[str, Any]:
    """Every demo login, and a few demo residents to try queries with (no database needed)."""
    persons = people(sample_residents)
    plan = assignments(sample_residents)
    return {
        "channels": [
            {
                "name": c.name,
                "client_id": c.client_id,
                "client_secret": c.secret,
                "cities": world.channel_cities(c),
            }
            for c in world.CHANNELS
        ],
        "staff": [
            {"city": s.city, "username": s.username, "password": s.password, "role": s.role.value}
            for s in world.staff()
        ],
        "residents": [
            {
                "channel": used[0].slug,
                "user_id": user_id(used[0], index),
                "id_number": mask_id_number(person.id_number),
                "verified": verified,
                "plates": list(World(SEED).people[index].plates) if index < 100 else [],
            }
            for person, (index, used, verified) in zip(persons, plan, strict=True)
        ],
    }
