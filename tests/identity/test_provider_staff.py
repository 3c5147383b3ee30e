"""Provider staff are bound to their provider: another provider's objects in the same city do
not exist for them (404), and every such attempt is on the audit log."""

from __future__ import annotations

from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff


async def test_a_provider_staff_role_names_its_provider(api: Api, db: Database) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    role = {"city": city.slug, "role": "provider_staff"}
    body = {"username": "clerk", "roles": [role]}
    problem = await staff.post("/v1/staff", json=body, expect=422)
    assert (problem["code"], problem["field"]) == ("provider_required", "provider")
    body["roles"] = [{**role, "provider": "Water Co"}]
    made = await staff.post("/v1/staff", json=body)
    assert made["roles"] == [{"city": city.slug, "role": "provider_staff", "provider": "Water Co"}]
    auditor = {"city": city.slug, "role": "auditor", "provider": "Water Co"}
    problem = await staff.post("/v1/staff/clerk/roles", json=auditor, expect=422)
    assert problem["code"] == "provider_unused"
