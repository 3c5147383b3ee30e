"""Console sessions over the API: the cookie, CSRF, sign-out, and what a wrong password says."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.cities.models import Grant, Service
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role, StaffSession, StaffUser
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.cities.factories import create_category, create_city, create_grant, create_service
from tests.client import Api
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, create_channel, create_staff

SERVICE = {
    "code": "gas",
    "category": "payments",
    "kind": "bill",
    "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
    "provider": "Gas Co",
    "connector": "simulator:gas",
}


async def _services(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Service)) or 0)


async def _audited(db: Database) -> list[str]:
    async with db.unit_of_work() as session:
        query = select(AuditEntry.action).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())


async def test_sign_in_sets_a_strict_cookie_and_answers_a_csrf_token(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    signed = await api.post(
        "/v1/staff/session", json={"username": admin.username, "password": PASSWORD}, expect=200
    )
    assert signed["csrf_token"] and signed["staff"]["roles"] == [
        {"city": city.slug, "role": "city_admin", "provider": None}
    ]
    assert api.last is not None
    cookie = api.last.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "max-age=28800" in cookie and "secure" not in cookie  # Secure only in production
    assert signed["csrf_token"] not in cookie  # the CSRF token is not the session token
    me = await api.get("/v1/staff/me")
    assert me["username"] == admin.username


async def test_unsafe_requests_need_the_csrf_token(db: Database, api: Api) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    url = f"/v1/cities/{city.slug}/services"
    for headers in ({"X-CSRF-Token": ""}, {"X-CSRF-Token": "forged"}):
        problem = await staff.post(url, json=SERVICE, headers=headers, expect=403)
        assert problem["code"] == "csrf_failed"
    no_header = staff.with_headers()
    no_header.headers.pop("X-CSRF-Token")
    await no_header.post(url, json=SERVICE, expect=403)
    assert await _services(db) == 0
    await create_category(db, code="payments")
    await staff.post(url, json=SERVICE)
    assert await _services(db) == 1


async def test_sign_out_ends_the_session(db: Database, api: Api) -> None:
    admin = await create_staff(db, city=await create_city(db))
    staff = await api.as_staff(admin.username, PASSWORD)
    cookie = staff.client.cookies.get("cityhub_session")
    await staff.delete("/v1/staff/session")
    replay = await api.get(
        "/v1/staff/me", headers={"Cookie": f"cityhub_session={cookie}"}, expect=401
    )
    assert replay["code"] == "session_expired"


async def test_a_wrong_password_says_nothing_more(db: Database, api: Api) -> None:
    admin = await create_staff(db, city=await create_city(db))
    wrong = await api.post(
        "/v1/staff/session", json={"username": admin.username, "password": "nope"}, expect=401
    )
    unknown = await api.post(
        "/v1/staff/session", json={"username": "ghost", "password": PASSWORD}, expect=401
    )
    assert wrong["detail"] == unknown["detail"] == "wrong username or password"
    assert api.last is not None and "set-cookie" not in api.last.headers


async def test_patch_and_delete_need_the_csrf_token_too(db: Database, api: Api) -> None:
    city = await create_city(db)
    service = await create_service(db, city=city)
    login = await create_channel(db)
    grant = await create_grant(db, channel=login.channel, service=service)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    forged = staff.with_headers(**{"X-CSRF-Token": "forged"})
    missing = staff.with_headers()
    missing.headers.pop("X-CSRF-Token")
    for client in (forged, missing):
        problem = await client.patch(
            f"/v1/cities/{city.slug}/services/{service.code}", json={"provider": "X"}, expect=403
        )
        assert (problem["code"], problem["field"]) == ("csrf_failed", "X-CSRF-Token")
        problem = await client.delete(f"/v1/cities/{city.slug}/grants/{grant.id}", expect=403)
        assert problem["code"] == "csrf_failed"
        problem = await client.delete("/v1/staff/session", expect=403)
        assert problem["code"] == "csrf_failed"
    # nothing was written: the service, the grant and the session are as they were
    async with db.unit_of_work() as session:
        row = await session.get(Service, service.id)
        assert row is not None and row.provider == "Test Provider"
        assert await session.get(Grant, grant.id) is not None
    assert await _audited(db) == ["staff.sign_in"]
    assert (await staff.get("/v1/staff/me"))["username"] == admin.username
    # reads need no token
    assert (await missing.get(f"/v1/cities/{city.slug}/grants"))["items"]


async def test_sign_in_is_audited_and_the_cookie_is_the_only_credential(
    db: Database, api: Api
) -> None:
    admin = await create_staff(db, city=await create_city(db))
    staff = await api.as_staff(admin.username, PASSWORD)
    assert await _audited(db) == ["staff.sign_in"]
    cookie = staff.client.cookies.get("cityhub_session")
    assert cookie and len(cookie) >= 32
    async with db.unit_of_work() as session:
        stored = (await session.scalars(select(StaffSession.token_hash))).all()
    assert stored and cookie not in stored  # only a digest of the token is kept
    await api.get("/v1/staff/me", expect=401)  # the anonymous client has no cookie
    forged = await api.get("/v1/staff/me", headers={"Cookie": "cityhub_session=forged"}, expect=401)
    assert forged["code"] == "session_expired"


async def test_signed_out_cookie_cannot_write_either(db: Database, api: Api) -> None:
    city = await create_city(db)
    await create_category(db, code="payments")
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    cookie = staff.client.cookies.get("cityhub_session")
    csrf = staff.headers["X-CSRF-Token"]
    await staff.delete("/v1/staff/session")
    assert staff.last is not None and "cityhub_session=" in staff.last.headers["set-cookie"]
    replay = api.with_headers(Cookie=f"cityhub_session={cookie}", **{"X-CSRF-Token": csrf})
    problem = await replay.post(f"/v1/cities/{city.slug}/services", json=SERVICE, expect=401)
    assert problem["code"] == "session_expired"
    assert await _services(db) == 0


async def test_wrong_password_for_an_inactive_account_says_the_same(db: Database, api: Api) -> None:
    admin = await create_staff(db, city=await create_city(db))
    async with db.unit_of_work() as session:
        row = await session.get(StaffUser, admin.id)
        assert row is not None
        row.active = False
    problem = await api.post(
        "/v1/staff/session", json={"username": admin.username, "password": PASSWORD}, expect=401
    )
    assert problem["detail"] == "wrong username or password"
    assert "password" not in (problem.get("field") or "")


async def test_a_password_is_taken_exactly_as_typed(db: Database, api: Api) -> None:
    spaced = "  spaces around me  "
    admin = await create_staff(db, city=await create_city(db), password=spaced)
    await api.post(
        "/v1/staff/session", json={"username": admin.username, "password": spaced.strip()},
        expect=401,
    )  # fmt: skip
    signed = await api.post(
        "/v1/staff/session", json={"username": f" {admin.username} ", "password": spaced},
        expect=200,
    )  # fmt: skip
    assert signed["staff"]["username"] == admin.username


async def test_city_staff_may_list_channels_to_grant_them(db: Database, api: Api) -> None:
    city = await create_city(db)
    login = await create_channel(db)
    for role in (Role.CITY_ADMIN, Role.AUDITOR, Role.OPERATOR):
        member = await create_staff(db, city=city, role=role)
        staff = await api.as_staff(member.username, PASSWORD)
        listed = (await staff.get("/v1/channels"))["items"]
        assert [c["slug"] for c in listed] == [login.channel.slug]
        assert "client_secret" not in str(listed)
    provider = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    staff = await api.as_staff(provider.username, PASSWORD)
    assert (await staff.get("/v1/channels", expect=403))["code"] == "role_required"
    channel = await api.as_channel(login.client_id, login.secret)
    await channel.get("/v1/channels", expect=401)


async def test_an_expired_session_is_refused(db: Database, api: Api, hub_clock: Clock) -> None:
    admin = await create_staff(db, city=await create_city(db))
    staff = await api.as_staff(admin.username, PASSWORD)
    await staff.get("/v1/staff/me")
    async with db.unit_of_work() as session:
        record = await session.scalar(select(StaffSession))
    assert record is not None
    move_past(hub_clock, record.expires_at)
    problem = await staff.get("/v1/staff/me", expect=401)
    assert problem["code"] == "session_expired"
