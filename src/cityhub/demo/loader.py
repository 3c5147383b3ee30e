"""Loads the demo world into a database once, and lists its logins."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import demo as billing_demo
from cityhub.cities.models import City, CityStatus, Grant, Service, ServiceCategory, ServiceStatus
from cityhub.demo import world
from cityhub.identity import audit, purposes, security
from cityhub.identity import service as identity
from cityhub.identity.models import ChannelUser, Consent, IdentityLevel, Resident
from cityhub.identity.pii import Vault, id_check_digit, mask_id_number, mask_phone
from cityhub.identity.purposes import Purpose
from cityhub.lottery import service as lottery
from cityhub.lottery.schemas import RoundCreate, Rules, Step
from cityhub.notices import demo as notices_demo
from cityhub.platform import texts
from cityhub.platform.db import utcnow
from cityhub.platform.progress import NO_PROGRESS, Progress
from cityhub.requests import demo as requests_demo
from cityhub.simulators import World

SEED = 42
DEFAULT_RESIDENTS = 3000
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐"
    "许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华建国志文慧婷宇浩晨欣怡子涵一诺梓轩"
# What a verified demo resident consented to, for each channel they use.
CONSENTS = (("identity", Purpose.VERIFICATION), ("records", Purpose.RECORDS))


# The demo's passwords are fixed: hash each once per process (argon2 is slow on purpose).
_HASHES: dict[str, str] = {}


def _hash_all(passwords: Iterable[str]) -> dict[str, str]:
    # argon2 releases the GIL while it works, so the ~40 demo hashes share the cores.
    missing = sorted(set(passwords) - _HASHES.keys())
    if missing:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            _HASHES.update(zip(missing, pool.map(security.hash_password, missing), strict=True))
    return _HASHES


@dataclass(frozen=True)
class LoadReport:
    """What a load did (all zero when the world was already there)."""

    cities: int = 0
    services: int = 0
    grants: int = 0
    staff: int = 0
    channels: int = 0
    residents: int = 0
    lottery_rounds: int = 0

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
                provider=s.provider[0],
                provider_names=dict(zip(texts.LANGUAGES, s.provider, strict=True)),
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
    # Bulk statements, not one ORM object per row: thousands of residents load in a second.
    persons = people(count)
    plan = assignments(count)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for person, (_, _, verified) in zip(persons, plan, strict=True):
        rows.append(
            {
                "phone_enc": vault.encrypt(person.phone),
                "phone_hash": vault.lookup_hash("phone", person.phone),
                "phone_masked": mask_phone(person.phone),
                "name_enc": vault.encrypt(person.name) if verified else None,
                "id_number_enc": vault.encrypt(person.id_number) if verified else None,
                "id_number_hash": vault.lookup_hash("id", person.id_number) if verified else None,
                "id_number_masked": mask_id_number(person.id_number) if verified else None,
                "verified_at": now if verified else None,
                "identity_level": (
                    IdentityLevel.AUTHORITY_CHECKED if verified else IdentityLevel.NONE
                ),
                "identity_checked_by": "registry:demo" if verified else None,
                "created_at": now,
            }
        )
    if not rows:
        return
    # RETURNING in parameter order costs a statement per row on SQLite: find the ids by the
    # phone hashes instead (unique among the demo's people).
    before = await session.scalar(select(func.coalesce(func.max(Resident.id), 0)))
    await session.execute(insert(Resident), rows)
    inserted = select(Resident.phone_hash, Resident.id).where(Resident.id > before)
    found: dict[str | None, int] = dict((await session.execute(inserted)).all())
    ids = [found[row["phone_hash"]] for row in rows]
    links: list[dict[str, Any]] = []
    consents: list[dict[str, Any]] = []
    for resident_id, (index, used, verified) in zip(ids, plan, strict=True):
        for channel in used:
            channel_id = channel_ids[channel.slug]
            links.append({"channel_id": channel_id, "channel_user_id": user_id(channel, index),
                          "resident_id": resident_id, "created_at": now})  # fmt: skip
            if verified:
                consents += [
                    {"resident_id": resident_id, "channel_id": channel_id, "scope": scope,
                     "purpose": purposes.english(purpose, {}), "purpose_code": purpose.value,
                     "granted_at": now}
                    for scope, purpose in CONSENTS
                ]  # fmt: skip
    await session.execute(insert(ChannelUser), links)
    if consents:
        await session.execute(insert(Consent), consents)


async def _grants(
    session: AsyncSession,
    actor: audit.Actor,
    cities: list[City],
    services: dict[str, list[Service]],
    channel_ids: dict[str, int],
) -> dict[int, int]:
    # Inserted together, then audited one by one as `grant.create` (what a city admin's grant
    # writes), without the `grant.created` webhooks: the demo channels have no endpoint.
    made: list[tuple[Grant, str, str]] = []
    for index, (demo_city, city) in enumerate(zip(world.CITIES, cities, strict=True)):
        for demo_service, service in zip(
            world.services_of(demo_city), services[demo_city.slug], strict=True
        ):
            for demo_channel in world.CHANNELS:
                if world.granted(demo_channel, index, demo_city, demo_service):
                    grant = Grant(city_id=city.id, channel_id=channel_ids[demo_channel.slug],
                                  service_id=service.id)  # fmt: skip
                    made.append((grant, demo_channel.slug, service.code))
    session.add_all(grant for grant, _, _ in made)
    await session.flush()
    per_city: dict[int, int] = {}
    for grant, channel, code in made:
        await audit.append(
            session=session, actor=actor, action="grant.create", object_type="grant",
            object_id=grant.id, city_id=grant.city_id,
            details={"channel": channel, "service": code},
        )  # fmt: skip
        per_city[grant.city_id] = per_city.get(grant.city_id, 0) + 1
    return per_city


async def _staff(
    session: AsyncSession, actor: audit.Actor, hashes: dict[str, str], city_ids: dict[str, int]
) -> int:
    people = world.staff()
    for person in people:
        city_id = city_ids[person.city] if person.city else None
        await identity.create_staff(
            session=session, username=person.username, display_name=person.username,
            password=person.password, password_hash=hashes[person.password],
            roles=[(city_id, person.role)],
            providers={city_id: person.provider} if city_id and person.provider else None,
        )  # fmt: skip
        await audit.append(
            session=session, actor=actor, action="staff.create", object_type="staff",
            object_id=person.username, city_id=city_id, details={"role": person.role.value},
        )  # fmt: skip
    return len(people)


async def _lotteries(
    session: AsyncSession, vault: Vault, actor: audit.Actor, cities: list[City]
) -> int:
    """An open car-plate round in each city that rations plates: a month's window, the hub's
    sealed secret committed, extra tickets after 6 and 12 failed rounds."""
    plate_cities = {c.slug for c in world.CITIES if c.plate_lottery}
    opens = utcnow().replace(minute=0, second=0, microsecond=0)
    made = 0
    for city in cities:
        if city.slug not in plate_cities:
            continue
        round_in = RoundCreate(
            code=f"plates-{opens:%Y-%m}",
            service="car-plate-lottery",
            kind="car-plate",
            title=f"{city.name_en} car plates, {opens:%B %Y}",
            titles={
                "zh-Hans": f"{city.name_zh_hans}{opens.year}年{opens.month}月小客车指标",
                "zh-Hant": f"{city.name_zh_hant}{opens.year}年{opens.month}月小客車指標",
                "en": f"{city.name_en} car plates, {opens:%B %Y}",
            },
            opens_at=opens,
            closes_at=opens + dt.timedelta(days=30),
            quota=200,
            rules=Rules(
                multipliers=[
                    Step(from_failures=0, tickets=1),
                    Step(from_failures=6, tickets=2),
                    Step(from_failures=12, tickets=3),
                ]
            ),
        )
        await lottery.create_round(
            session=session, vault=vault, actor=actor, city=city, round_in=round_in
        )
        made += 1
    return made


LOAD_STEPS = 8


async def load(
    *,
    session: AsyncSession,
    vault: Vault,
    residents: int = DEFAULT_RESIDENTS,
    progress: Progress = NO_PROGRESS,
) -> LoadReport:
    """Load the demo world unless it is there already (then nothing changes)."""
    if await session.scalar(select(City.id).where(City.slug == world.CITIES[0].slug)):
        return LoadReport()
    progress(total=LOAD_STEPS, what="hashing the demo passwords")
    hashes = await asyncio.to_thread(
        _hash_all, [c.secret for c in world.CHANNELS] + [p.password for p in world.staff()]
    )
    actor = audit.Actor.system()
    progress(advance=1, what=f"{len(world.CITIES)} cities and their catalogues")
    cities, services = await _catalogue(session)
    for rows in services.values():
        await billing_demo.load(session=session, services=rows)
    channel_ids = {}
    for demo in world.CHANNELS:
        channel = await identity.create_channel(
            session=session, vault=vault, slug=demo.slug, name=demo.name, kind=demo.kind,
            names=dict(zip(texts.LANGUAGES, demo.names, strict=True)),
            client_id=demo.client_id, client_secret=demo.secret, scopes=world.CHANNEL_SCOPES,
            secret_hash=hashes[demo.secret],
        )  # fmt: skip
        channel_ids[demo.slug] = channel.id
    progress(advance=1, what="channels' grants")
    grants = await _grants(session, actor, cities, services, channel_ids)
    progress(advance=1, what="staff")
    staff = await _staff(session, actor, hashes, {c.slug: c.id for c in cities})
    progress(advance=1, what=f"{residents} residents")
    await _residents(session, vault, channel_ids, residents)
    progress(advance=1, what="lottery rounds")
    rounds = await _lotteries(session, vault, actor, cities)
    progress(advance=1, what="government accounts and notices")
    await notices_demo.load(session=session, cities=cities)
    progress(advance=1, what="request types and departments")
    await requests_demo.load(session=session, vault=vault, cities=cities)
    for city in cities:
        await audit.append(
            session=session, actor=actor, action="demo.load", object_type="city",
            object_id=city.slug, city_id=city.id,
            details={"services": len(services[city.slug]), "grants": grants.get(city.id, 0)},
        )  # fmt: skip
    await audit.append(
        session=session, actor=actor, action="demo.load", object_type="hub", object_id="demo",
        details={"cities": len(cities), "channels": len(channel_ids), "residents": residents},
    )  # fmt: skip
    progress(advance=1, what="the demo world is loaded")
    return LoadReport(
        cities=len(cities),
        services=sum(len(v) for v in services.values()),
        grants=sum(grants.values()),
        staff=staff,
        channels=len(channel_ids),
        residents=residents,
        lottery_rounds=rounds,
    )


def credentials() -> dict[str, Any]:
    """Every demo login: channels with their cities, and staff (no database needed); and, to
    try queries with, the first demo residents."""
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
        "residents": sample_residents(),
    }


def sample_residents(count: int = 5) -> list[dict[str, Any]]:
    """The first demo residents, to try queries with: channel, user id, masked id, plates."""
    persons = people(count)
    plan = assignments(count)
    simulated = World(SEED).people
    return [
        {
            "channel": used[0].slug,
            "user_id": user_id(used[0], index),
            "id_number": mask_id_number(person.id_number),
            "verified": verified,
            "plates": list(simulated[index].plates) if index < len(simulated) else [],
        }
        for person, (index, used, verified) in zip(persons, plan, strict=True)
    ]
