"""Staff managing the catalogue: roles, tenancy between cities, and fields they may not set."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cityhub.cities.models import City, Grant, Service
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.cities.factories import (
    create_category,
    create_city,
    create_grant,
    create_service,
    get_city,
)
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff

GAS: dict[str, Any] = {
    "code": "gas",
    "category": "payments",
    "kind": "bill",
    "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
    "provider": "Gas Co",
    "connector": "simulator:gas",
}


async def _count(db: Database, model: type[Service] | type[Grant]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_auditor_reads_but_cannot_create_services_or_grants(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    await create_category(db)
    service = await create_service(db, city=city)
    login = await create_channel(db)
    granted = await create_grant(db, channel=login.channel, service=service)
    member = await create_staff(db, city=city, role=Role.AUDITOR)
    auditor = await api.as_staff(member.username, PASSWORD)
    base = f"/v1/cities/{city.slug}"
    refused = [
        await auditor.post(f"{base}/services", json=GAS, expect=403),
        await auditor.post(
            f"{base}/grants",
            json={"channel": login.channel.slug, "service": service.code},
            expect=403,
        ),  # fmt: skip
        await auditor.patch(f"{base}/services/{service.code}", json={"provider": "X"}, expect=403),
        await auditor.delete(f"{base}/grants/{granted.id}", expect=403),
        await auditor.patch(base, json={"timezone": "Asia/Urumqi"}, expect=403),
    ]
    assert {p["code"] for p in refused} == {"role_required"}
    assert await _count(db, Service) == 1 and await _count(db, Grant) == 1
    # ...what an auditor may do: read their city's catalogue and grants
    assert [s["code"] for s in (await auditor.get(f"{base}/services"))["items"]] == [service.code]
    assert [g["id"] for g in (await auditor.get(f"{base}/grants"))["items"]] == [granted.id]


async def test_a_city_admin_cannot_touch_another_city(db: Database, api: Api) -> None:
    mine, theirs = await create_city(db), await create_city(db)
    await create_category(db)
    their_service = await create_service(db, city=theirs)
    my_service = await create_service(db, city=mine)
    login = await create_channel(db)
    their_grant = await create_grant(db, channel=login.channel, service=their_service)
    member = await create_staff(db, city=mine)
    admin = await api.as_staff(member.username, PASSWORD)
    there = f"/v1/cities/{theirs.slug}"
    answers = [
        await admin.post(f"{there}/services", json=GAS, expect=404),
        await admin.post(
            f"{there}/grants",
            json={"channel": login.channel.slug, "service": their_service.code},
            expect=404,
        ),
        await admin.patch(
            f"{there}/services/{their_service.code}", json={"provider": "X"}, expect=404
        ),  # fmt: skip
        await admin.delete(f"{there}/grants/{their_grant.id}", expect=404),
        await admin.patch(there, json={"timezone": "Asia/Urumqi"}, expect=404),
        await admin.get(f"{there}/grants", expect=404),
        await admin.get(f"{there}/services/{their_service.code}", expect=404),
        # another city's grant or service through my own city's path does not exist either
        await admin.delete(f"/v1/cities/{mine.slug}/grants/{their_grant.id}", expect=404),
        await admin.post(
            f"/v1/cities/{mine.slug}/grants",
            json={"channel": login.channel.slug, "service": their_service.code},
            expect=404,
        ),
    ]
    assert all(their_service.provider not in str(a) for a in answers)  # no details leak
    assert {a["code"] for a in answers[:7]} == {"city_not_found"}
    assert answers[7]["code"] == "grant_not_found" and answers[8]["code"] == "service_not_found"
    assert await _count(db, Service) == 2 and await _count(db, Grant) == 1
    async with db.unit_of_work() as session:
        row = await session.get(City, theirs.id)
        assert row is not None and row.timezone == "Asia/Shanghai"
        svc = await session.get(Service, their_service.id)
        assert svc is not None and svc.provider == "Test Provider"
    # ...while their own city works
    created = await admin.post(f"/v1/cities/{mine.slug}/services", json=GAS)
    assert created["city"] == mine.slug
    await admin.get(f"/v1/cities/{mine.slug}/services/{my_service.code}")


async def test_the_operator_manages_every_city(db: Database, api: Api) -> None:
    first, second = await create_service(db), await create_service(db)
    member = await create_staff(db, role=Role.OPERATOR)
    operator = await api.as_staff(member.username, PASSWORD)
    for service in (first, second):
        city = (await get_city(db, service.city_id)).slug
        listed = await operator.get(f"/v1/cities/{city}/services")
        assert [s["code"] for s in listed["items"]] == [service.code]
        changed = await operator.patch(
            f"/v1/cities/{city}/services/{service.code}", json={"provider": "Op"}
        )
        assert changed["provider"] == "Op"
    new = await operator.post(
        "/v1/cities",
        json={"slug": "newtown", "names": {"zh-Hans": "新", "zh-Hant": "新", "en": "Newtown"}},
    )
    assert new["status"] == "onboarding"
    member = await create_staff(db, city=await create_city(db))
    admin = await api.as_staff(member.username, PASSWORD)
    problem = await admin.post(
        "/v1/cities",
        json={"slug": "mytown", "names": {"zh-Hans": "我", "zh-Hant": "我", "en": "Mine"}},
        expect=403,
    )
    assert problem["code"] == "role_required"


async def test_a_null_is_refused_not_written(db: Database, api: Api) -> None:
    city = await create_city(db)
    service = await create_service(db, city=city)
    member = await create_staff(db, role=Role.OPERATOR)
    operator = await api.as_staff(member.username, PASSWORD)
    url = f"/v1/cities/{city.slug}/services/{service.code}"
    for field in ("provider", "status", "category", "connector", "connector_config", "names"):
        problem = await operator.patch(url, json={field: None}, expect=422)
        assert (problem["code"], problem["field"]) == ("validation_failed", field)
    for field in ("timezone", "status", "names"):
        problem = await operator.patch(f"/v1/cities/{city.slug}", json={field: None}, expect=422)
        assert problem["field"] == field
    shown = await operator.get(url)
    assert (shown["provider"], shown["status"], shown["category"]) == (
        "Test Provider", "active", "payments",
    )  # fmt: skip
    bad_zone = await operator.patch(
        f"/v1/cities/{city.slug}", json={"timezone": "Mars/Olympus"}, expect=422
    )
    assert bad_zone["field"] == "timezone"
    unknown = await operator.patch(url, json={"category": "nothing-like-it"}, expect=422)
    assert (unknown["code"], unknown["field"]) == ("unknown_category", "category")


async def test_ids_out_of_range_are_a_422_not_a_crash(db: Database, api: Api) -> None:
    city = await create_city(db)
    member = await create_staff(db, city=city)
    admin = await api.as_staff(member.username, PASSWORD)
    for bad in ("99999999999999999999999", "0", "-1", "x"):
        problem = await admin.delete(f"/v1/cities/{city.slug}/grants/{bad}", expect=422)
        assert problem["field"] == "grant_id"
    await admin.delete(f"/v1/cities/{city.slug}/grants/{2**63 - 1}", expect=404)
    for cursor in ("99999999999999999999999", "9" * 5000, "１２", "-3"):
        problem = await admin.get(f"/v1/cities?cursor={cursor}", expect=422)
        assert problem["field"] == "cursor"


async def test_a_service_names_its_provider_in_three_languages(db: Database, api: Api) -> None:
    city = await create_city(db)
    member = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    admin = await api.as_staff(member.username, PASSWORD)
    names = {"zh-Hans": "燃气公司", "zh-Hant": "燃氣公司", "en": "Gas Co"}
    base = f"/v1/cities/{city.slug}/services"
    made = await admin.post(base, json={**GAS, "provider_names": names}, expect=201)
    assert made["provider_names"] == names
    listed = await admin.get(base)  # the catalogue carries them too
    assert listed["items"][0]["provider_names"] == names
    changed = await admin.patch(f"{base}/gas", json={"provider_names": {"en": "Gas Ltd"}})
    assert changed["provider_names"] == {"en": "Gas Ltd"}
