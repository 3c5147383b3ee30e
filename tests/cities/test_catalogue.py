"""The catalogue: public cities, paged lists, grants that decide what a channel sees."""

from __future__ import annotations

from cityhub.cities.models import ServiceKind, ServiceStatus
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service, get_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff


async def test_cities_are_public_and_paged(db: Database, api: Api) -> None:
    slugs = {(await create_city(db)).slug for _ in range(7)}
    seen: list[str] = []
    url = "/v1/cities?limit=3"
    while url:
        page = await api.get(url)
        assert len(page["items"]) <= 3
        seen += [c["slug"] for c in page["items"]]
        url = f"/v1/cities?limit=3&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert sorted(seen) == sorted(slugs)  # every city once
    too_many = await api.get("/v1/cities?limit=101", expect=422)
    assert too_many["field"] == "limit"
    bad = await api.get("/v1/cities?cursor=abc", expect=422)
    assert bad["field"] == "cursor"


async def test_a_channel_sees_only_granted_active_services(db: Database, api: Api) -> None:
    city = await create_city(db)
    granted = await create_service(db, city=city)
    paused = await create_service(db, city=city)
    hidden = await create_service(db, city=city)
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=granted)
    await create_grant(db, channel=login.channel, service=paused)
    async with db.unit_of_work() as session:
        row = await session.merge(paused)
        row.status = ServiceStatus.PAUSED
    channel = await api.as_channel(login.client_id, login.secret)
    listed = await channel.get(f"/v1/cities/{city.slug}/services")
    assert [s["code"] for s in listed["items"]] == [granted.code]
    one = await channel.get(f"/v1/cities/{city.slug}/services/{granted.code}")
    assert one["code"] == granted.code and "connector" not in one
    problem = await channel.get(f"/v1/cities/{city.slug}/services/{hidden.code}", expect=403)
    assert problem["code"] == "service_not_granted"


async def test_a_city_without_grant_is_forbidden_to_a_channel(db: Database, api: Api) -> None:
    mine, other = await create_service(db), await create_service(db)
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=mine)
    channel = await api.as_channel(login.client_id, login.secret)
    other_city = await get_city(db, other.city_id)
    problem = await channel.get(f"/v1/cities/{other_city.slug}/services", expect=403)
    assert problem["code"] == "city_not_granted"
    await channel.get("/v1/cities/nowhere/services", expect=404)


async def test_grants_are_not_exclusive(db: Database, api: Api) -> None:
    service = await create_service(db)
    first, second = await create_channel(db), await create_channel(db)
    city = await get_city(db, service.city_id)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    for login in (first, second):
        grant = await staff.post(
            f"/v1/cities/{city.slug}/grants",
            json={"channel": login.channel.slug, "service": service.code},
        )
        assert grant["channel"] == login.channel.slug
    for login in (first, second):
        channel = await api.as_channel(login.client_id, login.secret)
        listed = await channel.get(f"/v1/cities/{city.slug}/services")
        assert [s["code"] for s in listed["items"]] == [service.code]
    duplicate = await staff.post(
        f"/v1/cities/{city.slug}/grants",
        json={"channel": first.channel.slug, "service": service.code},
        expect=409,
    )
    assert duplicate["code"] == "grant_exists"
    grants = await staff.get(f"/v1/cities/{city.slug}/grants")
    await staff.delete(f"/v1/cities/{city.slug}/grants/{grants['items'][0]['id']}")
    channel = await api.as_channel(first.client_id, first.secret)
    await channel.get(f"/v1/cities/{city.slug}/services", expect=403)


async def test_staff_see_their_city_and_nothing_of_another(db: Database, api: Api) -> None:
    mine, theirs = await create_city(db), await create_city(db)
    service = await create_service(db, city=mine)
    other_service = await create_service(db, city=theirs)
    admin = await create_staff(db, city=mine)
    staff = await api.as_staff(admin.username, PASSWORD)
    listed = await staff.get(f"/v1/cities/{mine.slug}/services")
    assert [s["code"] for s in listed["items"]] == [service.code]
    detail = await staff.get(f"/v1/cities/{mine.slug}/services/{service.code}")
    assert detail["connector"] == "simulator"  # staff see how it is connected
    for url in (
        f"/v1/cities/{theirs.slug}/services",
        f"/v1/cities/{theirs.slug}/services/{other_service.code}",
        f"/v1/cities/{theirs.slug}/grants",
    ):
        problem = await staff.get(url, expect=404)
        assert theirs.name_en not in str(problem) or problem["code"] == "city_not_found"
    await staff.patch(
        f"/v1/cities/{theirs.slug}/services/{other_service.code}",
        json={"provider": "mine now"},
        expect=404,
    )
    operator = await create_staff(db, role=Role.OPERATOR)
    op = await api.as_staff(operator.username, PASSWORD)
    await op.get(f"/v1/cities/{theirs.slug}/services/{other_service.code}")


async def test_roles_are_respected(db: Database, api: Api) -> None:
    city = await create_city(db)
    await create_service(db, city=city, code="water")
    auditor = await create_staff(db, city=city, role=Role.AUDITOR)
    staff = await api.as_staff(auditor.username, PASSWORD)
    body = {
        "code": "gas",
        "category": "payments",
        "kind": "bill",
        "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
        "provider": "Gas Co",
        "connector": "simulator:gas",
    }
    problem = await staff.post(f"/v1/cities/{city.slug}/services", json=body, expect=403)
    assert problem["code"] == "role_required"
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    created = await staff.post(f"/v1/cities/{city.slug}/services", json=body)
    assert created["status"] == "active" and created["city"] == city.slug


async def test_fields_a_caller_may_not_set_are_refused(db: Database, api: Api) -> None:
    city = await create_city(db)
    await create_service(db, city=city, code="water")
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    body = {
        "code": "gas",
        "category": "payments",
        "kind": "bill",
        "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
        "provider": "Gas Co",
        "connector": "simulator:gas",
    }
    for field, value in (("city_id", 1), ("status", "active"), ("city", "elsewhere")):
        problem = await staff.post(
            f"/v1/cities/{city.slug}/services", json={**body, field: value}, expect=422
        )
        assert problem["field"] == field
    listed = await staff.get(f"/v1/cities/{city.slug}/services")
    assert [s["code"] for s in listed["items"]] == ["water"]  # nothing was half-written
    problem = await staff.patch(f"/v1/cities/{city.slug}", json={"status": "suspended"}, expect=403)
    assert problem["field"] == "status"
    renamed = await staff.patch(
        f"/v1/cities/{city.slug}",
        json={"names": {"zh-Hans": "新名", "zh-Hant": "新名", "en": "New"}},
    )
    assert renamed["names"]["en"] == "New" and renamed["status"] == "active"
    operator = await create_staff(db, role=Role.OPERATOR)
    op = await api.as_staff(operator.username, PASSWORD)
    suspended = await op.patch(f"/v1/cities/{city.slug}", json={"status": "suspended"})
    assert suspended["status"] == "suspended"


async def test_a_channel_pages_through_its_granted_services_only(db: Database, api: Api) -> None:
    city = await create_city(db)
    services = [await create_service(db, city=city) for _ in range(6)]
    lottery = await create_service(db, city=city, kind=ServiceKind.LOTTERY, category="lotteries")
    login, other = await create_channel(db), await create_channel(db)
    for service in [*services[::2], lottery]:
        await create_grant(db, channel=login.channel, service=service)
    await create_grant(db, channel=other.channel, service=services[1])
    async with db.unit_of_work() as session:
        retired = await session.merge(services[2])
        retired.status = ServiceStatus.RETIRED
    channel = await api.as_channel(login.client_id, login.secret)
    seen: list[str] = []
    url = f"/v1/cities/{city.slug}/services?limit=1"
    while url:
        page = await channel.get(url)
        assert len(page["items"]) <= 1
        seen += [s["code"] for s in page["items"]]
        cursor = page["next_cursor"]
        url = f"/v1/cities/{city.slug}/services?limit=1&cursor={cursor}" if cursor else ""
    assert seen == [services[0].code, services[4].code, lottery.code]
    only = await channel.get(f"/v1/cities/{city.slug}/services?kind=lottery")
    assert [s["code"] for s in only["items"]] == [lottery.code]
    bills = await channel.get(f"/v1/cities/{city.slug}/services?category=payments")
    assert [s["code"] for s in bills["items"]] == [services[0].code, services[4].code]
    me = await channel.get("/v1/channel")
    assert me["cities"] == [city.slug]
    problem = await channel.get(f"/v1/cities/{city.slug}/services/{services[1].code}", expect=403)
    assert (problem["code"], problem["field"]) == ("service_not_granted", "service")
    await channel.get(f"/v1/cities/{city.slug}/services/nothing", expect=404)
