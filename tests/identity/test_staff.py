"""Console sessions over the API: the cookie, CSRF, sign-out, and what a wrong password says."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.cities.models import Service
from cityhub.db import Database
from tests.cities.factories import create_category, create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff

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


async def test_sign_in_sets_a_strict_cookie_and_answers_a_csrf_token(
    db: Database, api: Api
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    signed = await api.post(
        "/v1/staff/session", json={"username": admin.username, "password": PASSWORD}, expect=200
    )
    assert signed["csrf_token"] and signed["staff"]["roles"] == [
        {"city": city.slug, "role": "city_admin"}
    ]
    assert api.last is not None
    cookie = api.last.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
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
