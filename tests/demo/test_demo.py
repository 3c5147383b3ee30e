"""The demo world loads once, holds together, and answers channels as the README promises."""

from __future__ import annotations

import re

from sqlalchemy import func, select, text

from cityhub.cities.models import City, Grant, Service
from cityhub.demo import loader, world
from cityhub.identity import audit
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Channel, ChannelUser, Consent, Resident, StaffUser
from cityhub.identity.pii import mask_phone, normalize_id_number, normalize_phone
from cityhub.lottery.models import LotteryRound
from cityhub.notices.models import GovAccount, NoticeTopic
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import vault
from tests.simulators.fixtures import Sim

SMALL = 120
COUNTED = (City, Service, Grant, Channel, StaffUser, Resident, ChannelUser, Consent, AuditEntry)
# Runs of digits long enough to hold a phone or an identity number.
DIGIT_RUN = re.compile(r"[0-9]{11,17}[0-9X]?")


async def load(db: Database, residents: int = SMALL) -> loader.LoadReport:
    async with db.unit_of_work() as session:
        return await loader.load(session=session, vault=vault(), residents=residents)


async def counts(db: Database) -> dict[str, int]:
    async with db.unit_of_work() as session:
        return {
            m.__name__: int(await session.scalar(select(func.count()).select_from(m)) or 0)
            for m in COUNTED
        }


async def test_twelve_cities_once(db: Database) -> None:
    report = await load(db)
    assert report.loaded and report.cities == 12
    async with db.unit_of_work() as session:
        cities = (await session.scalars(select(City))).all()
    assert {"shanghai", "taiyuan", "shenzhen", "qingdao"} <= {c.slug for c in cities}
    assert len(cities) == 12
    assert all(c.currency == "CNY" and c.timezone == "Asia/Shanghai" for c in cities)
    before = await counts(db)
    assert before["Resident"] == SMALL and before["Channel"] == 4 and before["StaffUser"] == 37
    # every grant and staff account was audited as a city admin's or the CLI's would be
    async with db.unit_of_work() as session:
        actions = dict(
            (
                await session.execute(select(AuditEntry.action, func.count()).group_by("action"))
            ).all()
        )
    assert actions["grant.create"] == before["Grant"] == report.grants
    assert actions["staff.create"] == before["StaffUser"]
    again = await load(db)
    assert not again.loaded
    assert await counts(db) == before


async def test_the_demo_worlds_content_is_in_three_languages(db: Database) -> None:
    await load(db, residents=10)
    three = {"zh-Hans", "zh-Hant", "en"}
    async with db.unit_of_work() as session:
        services = (await session.scalars(select(Service))).all()
        accounts = (await session.scalars(select(GovAccount))).all()
        topics = (await session.scalars(select(NoticeTopic))).all()
        rounds = (await session.scalars(select(LotteryRound))).all()
    assert services and all(set(s.provider_names) == three for s in services)
    assert all(s.provider_names["zh-Hans"] != s.provider_names["en"] for s in services)
    assert accounts and all(set(a.names) == set(a.agency_names) == three for a in accounts)
    assert topics and all(set(t.names) == three for t in topics)
    assert rounds and all(set(r.titles) == three for r in rounds)


def test_every_city_has_a_realistic_catalogue() -> None:
    for city in world.CITIES:
        catalogue = world.services_of(city)
        assert 8 <= len(catalogue) <= 15, city.slug
        assert len({s.code for s in catalogue}) == len(catalogue)
        assert {s.category for s in catalogue} <= {c[0] for c in world.CATEGORIES}
        has_lottery = any(s.code == "car-plate-lottery" for s in catalogue)
        assert has_lottery == city.plate_lottery
    plates = {c.slug for c in world.CITIES if c.plate_lottery}
    assert {"shanghai", "shenzhen", "guangzhou", "hangzhou", "taiyuan"} <= plates


def test_demo_people_have_valid_deterministic_numbers() -> None:
    persons = loader.people(loader.DEFAULT_RESIDENTS)
    assert persons == loader.people(loader.DEFAULT_RESIDENTS)
    for person in persons:
        assert normalize_id_number(person.id_number) == person.id_number
        assert normalize_phone(person.phone) == person.phone
    assert len({p.id_number for p in persons}) == len({p.phone for p in persons}) == len(persons)
    plan = loader.assignments(loader.DEFAULT_RESIDENTS)
    verified = sum(1 for _, _, v in plan if v)
    assert 0.7 * len(plan) < verified < len(plan)
    assert any(len(used) == 2 for _, used, _ in plan)


async def test_full_world_holds_together(db: Database) -> None:
    report = await load(db, residents=loader.DEFAULT_RESIDENTS)
    assert report.residents == loader.DEFAULT_RESIDENTS and report.staff == 37
    plate_cities = {c.slug for c in world.CITIES if c.plate_lottery}
    assert report.lottery_rounds == len(plate_cities)
    persons = loader.people(loader.DEFAULT_RESIDENTS)
    plan = loader.assignments(loader.DEFAULT_RESIDENTS)
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Resident)) == len(persons)
        # one in ten uses a second channel, linked to the same resident
        two = (
            await session.scalars(
                select(ChannelUser.resident_id)
                .group_by(ChannelUser.resident_id)
                .having(func.count() == 2)
            )
        ).all()
        assert len(two) == sum(1 for _, used, _ in plan if len(used) == 2)
        verified = await session.scalar(
            select(func.count()).select_from(Resident).where(Resident.verified_at.is_not(None))
        )
        assert verified == sum(1 for _, _, v in plan if v)
        # every verified resident consented to identity checks on each channel they use
        identity = await session.scalar(
            select(func.count()).select_from(Consent).where(Consent.scope == "identity")
        )
        assert identity == sum(len(used) for _, used, v in plan if v)
        # each city that rations plates has a round open for applications, its commitment out
        rounds = (await session.execute(
            select(City.slug, LotteryRound.status, LotteryRound.commitment)
            .join(City, City.id == LotteryRound.city_id)
        )).all()  # fmt: skip
        assert {slug for slug, _, _ in rounds} == plate_cities
        assert all(status == "open" and len(c) == 64 for _, status, c in rounds)
        reports = await audit.verify(session=session)
        stored = []
        for table in ("residents", "channel_users", "consents", "audit_log"):
            stored += [repr(row) for row in (await session.execute(text(f"SELECT * FROM {table}")))]
    assert reports and all(r.ok for r in reports)
    assert {r.chain for r in reports} >= {"hub"} and len(reports) == 13
    dump = "\n".join(stored)
    assert mask_phone(persons[0].phone) in dump  # the masked form is there, so we looked
    secrets = {p.phone for p in persons} | {p.id_number for p in persons}
    runs = set(DIGIT_RUN.findall(dump))
    leaked = {s for s in secrets for run in runs if s in run}
    assert not leaked


async def test_a_demo_channel_sees_exactly_what_it_was_granted(db: Database, api: Api) -> None:
    await load(db)
    for creds in loader.credentials()["channels"]:
        demo = next(c for c in world.CHANNELS if c.client_id == creds["client_id"])
        channel = await api.as_channel(creds["client_id"], creds["client_secret"])
        for index, city in enumerate(world.CITIES):
            granted = {
                s.code for s in world.services_of(city) if world.granted(demo, index, city, s)
            }
            url = f"/v1/cities/{city.slug}/services?limit=100"
            if not granted:
                assert city.slug not in creds["cities"]
                problem = await channel.get(url, expect=403)
                assert problem["code"] == "city_not_granted"
                continue
            listed = await channel.get(url)
            assert {s["code"] for s in listed["items"]} == granted, (demo.slug, city.slug)
            if city.slug in ("shanghai", "shenzhen"):
                assert granted == {s.code for s in world.services_of(city)}


async def test_staff_logins_work_and_stay_in_their_city(db: Database, api: Api) -> None:
    await load(db)
    admin = next(s for s in loader.credentials()["staff"] if s["username"] == "qingdao-admin")
    staff = await api.as_staff(admin["username"], admin["password"])
    grants = await staff.get("/v1/cities/qingdao/grants")
    assert grants["items"]
    await staff.get("/v1/cities/shanghai/grants", expect=404)
    operator = await api.as_staff("operator", "demo-operator")
    assert (await operator.get("/v1/cities/shanghai/grants"))["items"]


async def test_a_demo_resident_queries_their_traffic_violations(db: Database, api: Api) -> None:
    await load(db)
    first = loader.sample_residents(1)[0]
    paylink = next(c for c in loader.credentials()["channels"] if c["client_id"] == "ch_paylink")
    channel = await api.as_channel(paylink["client_id"], paylink["client_secret"])
    plate = first["plates"][0]
    answer = await channel.post(
        "/v1/cities/shanghai/services/traffic-violations/queries",
        json={"user_id": first["user_id"], "params": {"plate": plate}},
        expect=200,
    )
    assert answer["records"] and all(r["plate"] == plate for r in answer["records"])


async def test_the_demo_billers_are_in_the_catalogue(db: Database, api: Api, sim: Sim) -> None:
    await load(db)
    paylink = next(c for c in loader.credentials()["channels"] if c["client_id"] == "ch_paylink")
    channel = await api.as_channel(paylink["client_id"], paylink["client_secret"])
    listed = await channel.get("/v1/cities/shanghai/billers")
    kinds = {b["code"]: b["sub_type"] for b in listed["items"]}
    assert kinds == {"water-bill": "water", "power-bill": "electricity", "gas-bill": "gas"}
    power = await channel.get("/v1/cities/shanghai/billers/power-bill")
    [field] = power["fields"]
    assert field["labels"] == {
        "zh-Hans": "用电户号",
        "zh-Hant": "用電戶號",
        "en": "Electricity account number",
    }
    person = sim.world.people[0]
    account = sim.world.account_of("power", "shanghai-power", person)
    found = await channel.get(
        "/v1/cities/shanghai/services/power-bill/bills", params={"account": account}
    )
    assert found["sub_type"] == "electricity" and found["bills"]
    assert {b["holder"] for b in found["bills"]} == {person.name[0] + "*"}
    await channel.client.aclose()
