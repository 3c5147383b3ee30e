"""The city console: signing in and out, CSRF, and what each staff member may see."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role, StaffSession, StaffUser
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.web.browser import Browser


async def count(db: Database, model: type[AuditEntry] | type[StaffSession]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_sign_in_sets_the_session_cookie_and_shows_the_staff_and_their_city(
    db: Database, browser: Browser
) -> None:
    city = await create_city(db, slug="guangzhou")
    await create_city(db, slug="suzhou")
    staff = await create_staff(db, city=city, username="alice")

    answer = await browser.sign_in("alice", PASSWORD)

    assert answer.response.headers["location"] == "/console/"
    cookie = answer.set_cookies()["cityhub_session"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    home = await browser.get("/console/")
    assert home.title.startswith("城市管理后台")
    assert "欢迎，Alice" in home.text and "城市管理员 · guangzhou市" in home.text
    assert "guangzhou市" in home.text and "suzhou市" not in home.text
    assert home.response.headers["cache-control"] == "no-store"
    async with db.unit_of_work() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.sign_in"))
        assert entry is not None and entry.actor_id == staff.username
    # signed in, the sign-in form sends the staff member home
    again = await browser.get("/console", expect=303)
    assert again.response.headers["location"] == "/console/"


async def test_wrong_credentials_show_one_message_and_write_nothing(
    db: Database, browser: Browser
) -> None:
    await create_staff(db, city=await create_city(db), username="alice")

    wrong_password = await browser.sign_in("alice", "not the password", expect=401)
    unknown_user = await browser.sign_in("mallory", PASSWORD, expect=401)

    for page in (wrong_password, unknown_user):
        assert "用户名或密码错误" in page.text
        assert "cityhub_session" not in page.set_cookies()
    assert wrong_password.text == unknown_user.text  # nothing tells which part was wrong
    assert await count(db, StaffSession) == 0 and await count(db, AuditEntry) == 0
    async with db.unit_of_work() as session:
        alice = await session.scalar(select(StaffUser).where(StaffUser.username == "alice"))
        assert alice is not None and alice.last_login_at is None
    await browser.get("/console/", expect=303)  # still not signed in


async def test_empty_fields_are_asked_for(browser: Browser) -> None:
    page = await browser.sign_in("", "", expect=400)
    assert "请输入用户名和密码" in page.text


async def test_sign_in_without_the_form_token_is_refused(db: Database, browser: Browser) -> None:
    await create_staff(db, city=await create_city(db), username="alice")
    await browser.get("/console")  # the visitor has a form token, but a foreign page lacks it

    data = {"username": "alice", "password": PASSWORD}
    refused = await browser.post("/console/sign-in", data=data, expect=403)
    forged = await browser.post(
        "/console/sign-in", data={**data, "csrf_token": "guess"}, expect=403
    )

    for page in (refused, forged):
        assert page.title.startswith("无权操作") and "此表单已过期" in page.text
    assert await count(db, StaffSession) == 0


async def test_sign_out_needs_the_csrf_token(db: Database, browser: Browser) -> None:
    await create_staff(db, city=await create_city(db), username="alice")
    await browser.sign_in("alice", PASSWORD)
    form = await browser.sign_out_form()

    refused = await browser.post("/console/sign-out", data={}, expect=403)
    assert "此表单已过期" in refused.text
    await browser.post("/console/sign-out", data={"csrf_token": "guess"}, expect=403)
    await browser.get("/console/")  # the session still works

    done = await browser.post("/console/sign-out", data=form.fields)

    assert done.response.headers["location"] == "/console"
    assert 'cityhub_session=""' in done.set_cookies()["cityhub_session"]
    assert await count(db, StaffSession) == 0
    await browser.get("/console/", expect=303)


async def test_an_ended_session_sends_the_visitor_to_sign_in(browser: Browser) -> None:
    browser.client.cookies.set("cityhub_session", "not-a-live-session")

    answer = await browser.get("/console/c/anywhere", expect=303)

    assert answer.response.headers["location"] == "/console"
    assert 'cityhub_session=""' in answer.set_cookies()["cityhub_session"]


async def test_staff_of_one_city_get_404_for_another(db: Database, browser: Browser) -> None:
    city_a = await create_city(db, slug="city-a")
    await create_city(db, slug="city-b")
    await create_staff(db, city=city_a, username="alice")
    await browser.sign_in("alice", PASSWORD)

    await browser.get("/console/c/city-a")
    other = await browser.get("/console/c/city-b", expect=404)
    missing = await browser.get("/console/c/no-such-city", expect=404)

    assert other.text == missing.text  # another city looks exactly like no city


async def test_console_city_lists_services_and_grants(db: Database, browser: Browser) -> None:
    city = await create_city(db, slug="guangzhou")
    water = await create_service(db, city=city, code="water-bill")
    await create_service(db, city=city, code="clinic", kind="appointment", category="medical")
    channel = await create_channel(db, slug="payapp")
    await create_grant(db, channel=channel.channel, service=water)
    await create_staff(db, city=city, role=Role.AUDITOR, username="audrey")
    await browser.sign_in("audrey", PASSWORD)

    page = await browser.get("/console/c/guangzhou", headers={"Accept-Language": "en"})

    assert page.title.startswith("Guangzhou · City console")
    assert "2 services" in page.text and "1 grant" in page.text
    assert "Water-Bill" in page.text and "Clinic" in page.text and "Payapp" in page.text
    assert "Auditor" in page.text
    # the sign-out form is on every console page
    assert page.form("/console/sign-out").fields["csrf_token"]


async def test_the_operator_sees_every_city(db: Database, browser: Browser) -> None:
    await create_city(db, slug="city-a")
    await create_city(db, slug="city-b")
    await create_staff(db, role=Role.OPERATOR, username="olga")
    await browser.sign_in("olga", PASSWORD)

    home = await browser.get("/console/", headers={"Accept-Language": "zh-Hant"})

    assert "平台營運方 · 所有城市" in home.text
    assert "city-a市" in home.text and "city-b市" in home.text
    await browser.get("/console/c/city-b")


async def test_the_api_session_opens_the_console_too(db: Database, api: Api) -> None:
    city = await create_city(db, slug="guangzhou")
    await create_staff(db, city=city, username="alice")
    staff = await api.as_staff("alice", PASSWORD)

    home = await staff.get("/console/")

    assert "欢迎，Alice" in home
    await staff.client.aclose()
