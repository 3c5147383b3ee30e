"""The catalogue's categories: the migrations write the standard ones, the operator adds,
renames and disables them, and a disabled one takes no new service."""

from __future__ import annotations

from cityhub.cities.models import STANDARD_CATEGORIES
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff

WATER = {
    "code": "water-bill",
    "category": "payments",
    "kind": "bill",
    "names": {"zh-Hans": "水费", "zh-Hant": "水費", "en": "Water bill"},
    "provider": "Water Co",
    "connector": "simulator:water",
    "connector_config": {"provider_id": "x-water"},
}


async def test_a_fresh_database_has_the_standard_categories_and_a_city_can_use_them(
    db: Database, api: Api
) -> None:
    listed = (await api.get("/v1/categories"))["items"]
    assert [c["code"] for c in listed] == [c[0] for c in STANDARD_CATEGORIES]
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    boss = await api.as_staff(admin.username, PASSWORD)
    made = await boss.post(f"/v1/cities/{city.slug}/services", json=WATER)
    assert made["category"] == "payments"


async def test_the_operator_adds_renames_and_disables_a_category(db: Database, api: Api) -> None:
    city = await create_city(db)
    operator = await create_staff(db, role=Role.OPERATOR)
    chief = await api.as_staff(operator.username, PASSWORD)
    names = {"zh-Hans": "教育", "zh-Hant": "教育", "en": "Education"}
    made = await chief.post(
        "/v1/categories", json={"code": "education", "names": names, "position": 90}
    )
    assert (made["active"], made["position"]) == (True, 90)
    await chief.post("/v1/categories", json={"code": "education", "names": names}, expect=409)
    await chief.patch("/v1/categories/education", json={"names": {**names, "en": "Schools"}})
    await chief.patch("/v1/categories/payments", json={"active": False})
    public = [c["code"] for c in (await api.get("/v1/categories"))["items"]]
    assert "payments" not in public and public[-1] == "education"
    every = (await api.get("/v1/categories?include_disabled=true"))["items"]
    assert {c["code"]: c["active"] for c in every}["payments"] is False
    refused = await chief.post(f"/v1/cities/{city.slug}/services", json=WATER, expect=422)
    assert (refused["code"], refused["field"]) == ("category_disabled", "category")
    await chief.post(f"/v1/cities/{city.slug}/services", json={**WATER, "category": "education"})


async def test_a_city_admin_cannot_change_the_shared_categories(db: Database, api: Api) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    boss = await api.as_staff(admin.username, PASSWORD)
    refused = await boss.patch("/v1/categories/payments", json={"active": False}, expect=403)
    assert refused["code"] == "role_required"
    operator = await create_staff(db, role=Role.OPERATOR)
    chief = await api.as_staff(operator.username, PASSWORD)
    missing = await chief.patch("/v1/categories/nothing", json={"position": 1}, expect=404)
    assert missing["code"] == "category_not_found"
