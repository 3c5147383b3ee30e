"""Managing staff over the API: who may manage whom, a reset password that must be changed
before anything else, disabling that ends sessions at once, roles, and the audit trail."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff

NEW_PASSWORD = "a-new-and-long-password"


async def _actions(db: Database) -> list[str]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(AuditEntry.action))).all())


async def test_a_created_member_without_password_must_choose_one_before_anything_else(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    boss = await api.as_staff(admin.username, PASSWORD)
    made = await boss.post(
        "/v1/staff",
        json={
            "username": "clerk",
            "roles": [{"city": city.slug, "role": "provider_staff", "provider": "Water Co"}],
        },
    )
    temporary = made["temporary_password"]
    assert made["must_change_password"] and len(temporary) >= 12
    assert made["roles"] == [{"city": city.slug, "role": "provider_staff", "provider": "Water Co"}]

    signed = await api.post(
        "/v1/staff/session", json={"username": "clerk", "password": temporary}, expect=200
    )
    assert signed["password_change_required"] is True
    clerk = api.with_headers(**{"X-CSRF-Token": signed["csrf_token"]})
    refused = await clerk.get(f"/v1/cities/{city.slug}/services", expect=403)
    assert refused["code"] == "password_change_required"
    assert (await clerk.get("/v1/staff/me"))["username"] == "clerk"
    weak = await clerk.post(
        "/v1/staff/me/password", json={"current": temporary, "new": "short"}, expect=422
    )
    assert weak["code"] == "weak_password"
    await clerk.post(
        "/v1/staff/me/password", json={"current": temporary, "new": NEW_PASSWORD}, expect=204
    )
    await clerk.get(f"/v1/cities/{city.slug}/services", expect=200)
    await api.post(
        "/v1/staff/session", json={"username": "clerk", "password": temporary}, expect=401
    )
    assert {"staff.create", "staff.password_change"} <= set(await _actions(db))


async def test_a_reset_ends_the_members_sessions_and_forces_a_change(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    member = await create_staff(db, city=city, role=Role.AUDITOR)
    boss = await api.as_staff(admin.username, PASSWORD)
    auditor = await api.as_staff(member.username, PASSWORD)
    await auditor.get("/v1/staff/me")

    reset = await boss.post(f"/v1/staff/{member.username}/password-reset", json={}, expect=200)
    gone = await auditor.get("/v1/staff/me", expect=401)
    assert gone["code"] == "session_expired"
    await api.post(
        "/v1/staff/session",
        json={"username": member.username, "password": PASSWORD},
        expect=401,
    )
    again = await api.as_staff(member.username, reset["temporary_password"])
    assert (await again.get(f"/v1/cities/{city.slug}/services", expect=403))["code"] == (
        "password_change_required"
    )
    assert "staff.password_reset" in await _actions(db)


async def test_a_city_admin_manages_only_the_staff_of_their_cities(db: Database, api: Api) -> None:
    here, there = await create_city(db), await create_city(db)
    admin = await create_staff(db, city=here)
    both = await create_staff(db, city=here, role=Role.AUDITOR)
    elsewhere = await create_staff(db, city=there, role=Role.AUDITOR)
    operator = await create_staff(db, role=Role.OPERATOR)
    boss = await api.as_staff(admin.username, PASSWORD)
    chief = await api.as_staff(operator.username, PASSWORD)
    await chief.post(
        f"/v1/staff/{both.username}/roles", json={"city": there.slug, "role": "auditor"}
    )

    listed = {m["username"] for m in (await boss.get("/v1/staff"))["items"]}
    assert listed == {admin.username, both.username}
    assert (await boss.get(f"/v1/staff/{elsewhere.username}", expect=404))["code"] == (
        "staff_not_found"
    )
    refused = await boss.patch(f"/v1/staff/{both.username}", json={"active": False}, expect=403)
    assert refused["code"] == "staff_outside_your_cities"
    await boss.post(f"/v1/staff/{both.username}/password-reset", json={}, expect=403)
    wrong_city = await boss.post(
        "/v1/staff",
        json={"username": "intruder", "roles": [{"city": there.slug, "role": "city_admin"}]},
        expect=403,
    )
    assert wrong_city["field"] == "roles"
    await boss.post(
        "/v1/staff",
        json={"username": "root2", "roles": [{"role": "operator"}]},
        expect=403,
    )
    own = await boss.patch(f"/v1/staff/{admin.username}", json={"active": False}, expect=403)
    assert own["code"] == "own_account"
    everyone = {m["username"] for m in (await chief.get("/v1/staff"))["items"]}
    assert {admin.username, both.username, elsewhere.username, operator.username} <= everyone


async def test_disabling_ends_sessions_at_once_and_enabling_lets_the_member_back(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    member = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    boss = await api.as_staff(admin.username, PASSWORD)
    clerk = await api.as_staff(member.username, PASSWORD)

    off = await boss.patch(f"/v1/staff/{member.username}", json={"active": False})
    assert off["active"] is False
    await clerk.get("/v1/staff/me", expect=401)
    await api.post(
        "/v1/staff/session",
        json={"username": member.username, "password": PASSWORD},
        expect=401,
    )
    await boss.patch(f"/v1/staff/{member.username}", json={"active": True})
    back = await api.as_staff(member.username, PASSWORD)
    await back.get("/v1/staff/me")
    await boss.delete(f"/v1/staff/{member.username}/roles/provider_staff?city={city.slug}")
    assert ((await boss.get("/v1/staff"))["items"]) and member.username not in {
        m["username"] for m in (await boss.get("/v1/staff"))["items"]
    }
    actions = await _actions(db)
    assert {"staff.disable", "staff.enable", "staff.role_remove"} <= set(actions)


async def test_staff_creation_replays_under_the_same_idempotency_key(
    db: Database, api: Api
) -> None:
    operator = await create_staff(db, role=Role.OPERATOR)
    chief = await api.as_staff(operator.username, PASSWORD)
    body = {"username": "ops2", "password": NEW_PASSWORD, "roles": [{"role": "operator"}]}
    first = await chief.post("/v1/staff", json=body, headers={"Idempotency-Key": "k1"})
    again = await chief.post("/v1/staff", json=body, headers={"Idempotency-Key": "k1"})
    assert again == first and first["temporary_password"] is None
    taken = await chief.post("/v1/staff", json=body, expect=409)
    assert taken["code"] == "username_taken"
