"""The demo world loads once, holds together, and answers channels as the README promises."""

from __future__ import annotations

import json

from sqlalchemy import func, select, text
from typer.testing import CliRunner

from cityhub.cities.models import City, Grant, Service
from cityhub.db import Database
from cityhub.demo import loader, world
from cityhub.demo.cli import demo_app
from cityhub.identity import audit
from cityhub.identity.models import ChannelUser, Resident
from tests.client import Api
from tests.identity.factories import vault

SMALL = 120


async def load(db: Database, residents: int = SMALL) -> loader.LoadReport:
    async with db.unit_of_work() as session:
        return await loader.load(session=session, vault=vault(), residents=residents)


async def count(db: Database, model: type) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_twelve_cities_once(db: Database) -> None:
    report = await load(db)
    assert report.loaded and report.cities == 12
    async with db.unit_of_work() as session:
        slugs = set((await session.scalars(select(City.slug))).all())
    assert {"shanghai", "taiyuan", "shenzhen", "qingdao"} <= slugs and len(slugs) == 12
    before = (await count(db, Service), await count(db, Grant), await count(db, Resident))
    again = await load(db)
    assert not again.loaded
    assert (await count(db, Service), await count(db, Grant), await count(db, Resident)) == before


async def test_full_world_holds_together(db: Database) -> None:
    report = await load(db, residents=loader.DEFAULT_RESIDENTS)
    assert await count(db, Resident) == loader.DEFAULT_RESIDENTS
    # one in ten uses a second channel, linked to the same resident
    assert await count(db, ChannelUser) == loader.DEFAULT_RESIDENTS * 11 // 10
    assert report.staff == 37 and report.channels == 4
    async with db.unit_of_work() as session:
        reports = await audit.verify(session=session)
        raw = (await session.execute(text("SELECT * FROM residents"))).all()
    assert reports and all(r.ok for r in reports)
    stored = repr(raw)
    for person in loader.people(50):
        assert person.id_number not in stored and person.phone not in stored


async def test_a_demo_channel_sees_what_it_was_granted(db: Database, api: Api) -> None:
    await load(db)
    creds = loader.credentials()
    weibeam = next(c for c in creds["channels"] if c["client_id"] == "ch_weibeam")
    channel = await api.as_channel(weibeam["client_id"], weibeam["client_secret"])
    shanghai = await channel.get("/v1/cities/shanghai/services?limit=100")
    assert {s["code"] for s in shanghai["items"]} == {
        s.code for s in world.services_of(world.CITIES[0])
    }
    taiyuan = await channel.get("/v1/cities/taiyuan/services?limit=100")
    assert {s["kind"] for s in taiyuan["items"]} <= {"query", "request", "notice"}
    assert {s["code"] for s in taiyuan["items"]} >= {"air-quality", "city-notices"}
    not_granted = next(c.slug for c in world.CITIES if c.slug not in weibeam["cities"])
    problem = await channel.get(f"/v1/cities/{not_granted}/services", expect=403)
    assert problem["code"] == "city_not_granted"


async def test_staff_logins_work_and_stay_in_their_city(db: Database, api: Api) -> None:
    await load(db)
    admin = next(s for s in loader.credentials()["staff"] if s["username"] == "qingdao-admin")
    staff = await api.as_staff(admin["username"], admin["password"])
    grants = await staff.get("/v1/cities/qingdao/grants")
    assert grants["items"]
    await staff.get("/v1/cities/shanghai/grants", expect=404)


async def test_a_demo_resident_queries_their_traffic_violations(db: Database, api: Api) -> None:
    await load(db)
    first = loader.credentials()["residents"][0]
    paylink = next(c for c in loader.credentials()["channels"] if c["client_id"] == "ch_paylink")
    channel = await api.as_channel(paylink["client_id"], paylink["client_secret"])
    plate = first["plates"][0]
    answer = await channel.post(
        "/v1/cities/shanghai/services/traffic-violations/queries",
        json={"user_id": first["user_id"], "params": {"plate": plate}},
        expect=200,
    )
    assert answer["records"] and all(r["plate"] == plate for r in answer["records"])


def test_credentials_json_shape() -> None:
    result = CliRunner().invoke(demo_app, ["credentials", "--json"])
    assert result.exit_code == 0, result.output
    creds = json.loads(result.stdout)
    assert len(creds["channels"]) == 4
    for channel in creds["channels"]:
        assert set(channel) == {"name", "client_id", "client_secret", "cities"}
    every = {c["client_id"]: set(c["cities"]) for c in creds["channels"]}
    assert all({"shanghai", "shenzhen"} <= cities for cities in every.values())
    assert every["ch_portal"] == {c.slug for c in world.CITIES}
    for person in creds["staff"]:
        assert set(person) == {"city", "username", "password", "role"}
    assert {p["role"] for p in creds["staff"]} == {
        "operator",
        "city_admin",
        "provider_staff",
        "auditor",
    }
    assert {p["city"] for p in creds["staff"]} == {c.slug for c in world.CITIES} | {None}
