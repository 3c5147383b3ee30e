"""The resident portal: cities, a city's services, languages and error pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from cityhub.cities.models import City, CityStatus, Service, ServiceStatus
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_service
from tests.client import Api
from tests.web.browser import Browser, check_page


async def named_city(
    db: Database, slug: str, hans: str, hant: str, en: str, status: CityStatus = CityStatus.ACTIVE
) -> City:
    """A city whose three names differ, so a page shows which language it is in."""
    city = await create_city(db, slug=slug)
    async with db.unit_of_work() as session:
        await session.execute(
            update(City)
            .where(City.id == city.id)
            .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en, status=status)
        )
    return city


async def set_status(db: Database, service: Service, status: ServiceStatus) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(Service).where(Service.id == service.id).values(status=status))


async def test_portal_lists_cities_in_simplified_chinese_by_default(
    db: Database, browser: Browser
) -> None:
    await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")
    await named_city(db, "suzhou", "苏州", "蘇州", "Suzhou")
    await named_city(db, "newtown", "新城", "新城", "Newtown", status=CityStatus.ONBOARDING)

    page = await browser.get("/")

    assert page.lang == "zh-Hans"
    assert page.title.startswith("选择城市")
    assert "广州" in page.text and "苏州" in page.text and "Guangzhou" not in page.text
    assert "新城" not in page.text  # onboarding: not open to residents yet
    assert page.response.headers["content-security-policy"].startswith("default-src 'self'")


async def test_switching_to_english_is_remembered(db: Database, browser: Browser) -> None:
    await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")

    switched = await browser.get("/lang/en?next=/", expect=303)

    assert switched.response.headers["location"] == "/"
    cookie = switched.set_cookies()["cityhub_lang"]
    assert "Max-Age=31536000" in cookie and "HttpOnly" in cookie
    for _ in range(2):  # the choice holds for the following requests too
        page = await browser.get("/")
        assert page.lang == "en" and page.title.startswith("Choose your city")
        assert "Guangzhou" in page.text and "广州" not in page.text
    # the remembered choice wins over what the browser asks for
    page = await browser.get("/", headers={"Accept-Language": "zh-TW"})
    assert page.lang == "en"


@pytest.mark.parametrize(
    ("accept", "lang", "name"),
    [
        ("zh-TW,zh;q=0.9", "zh-Hant", "廣州"),
        ("zh-Hant-HK", "zh-Hant", "廣州"),
        ("en-GB,en;q=0.8,zh-CN;q=0.5", "en", "Guangzhou"),
        ("fr-FR, zh-CN;q=0.4, en;q=0.6", "en", "Guangzhou"),
        ("de, fr;q=0.5", "zh-Hans", "广州"),
        ("en;q=0, zh-SG", "zh-Hans", "广州"),
    ],
)
async def test_accept_language_is_the_fallback(
    db: Database, browser: Browser, accept: str, lang: str, name: str
) -> None:
    await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")

    page = await browser.get("/", headers={"Accept-Language": accept})

    assert page.lang == lang
    assert name in page.text


async def test_city_page_lists_only_its_active_services_by_category(
    db: Database, browser: Browser
) -> None:
    city = await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")
    await create_service(db, city=city, code="water-bill")
    await create_service(db, city=city, code="clinic", kind="appointment", category="medical")
    paused = await create_service(db, city=city, code="gas-bill")
    await set_status(db, paused, ServiceStatus.PAUSED)
    await create_service(db, code="elsewhere-bill")  # another city's service

    page = await browser.get("/c/guangzhou")

    assert page.title.startswith("广州的服务")
    assert "water-bill" in page.text and "clinic" in page.text
    assert "gas-bill" not in page.text and "elsewhere-bill" not in page.text
    assert "缴费" in page.text and "预约挂号" in page.text  # the kinds, translated
    # each category is a heading with its services under it
    assert page.text.index("医疗健康") < page.text.index("clinic")  # the standard categories
    assert page.text.index("生活缴费") < page.text.index("water-bill")

    english = await browser.get("/c/guangzhou", headers={"Accept-Language": "en"})
    assert english.title.startswith("Services in Guangzhou")
    assert "Water-Bill" in english.text and "Pay a bill" in english.text


async def test_the_chosen_city_is_remembered(db: Database, browser: Browser) -> None:
    await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")
    await named_city(db, "suzhou", "苏州", "蘇州", "Suzhou")

    visit = await browser.get("/c/suzhou")
    assert "cityhub_city=suzhou" in visit.set_cookies()["cityhub_city"]

    home = await browser.get("/")
    continue_to = [f for f in ("继续使用苏州", "继续使用广州") if f in home.text]
    assert continue_to == ["继续使用苏州"]


async def test_unknown_or_unopened_city_is_a_404_page(db: Database, browser: Browser) -> None:
    await named_city(db, "newtown", "新城", "新城", "Newtown", status=CityStatus.ONBOARDING)

    for url in ("/c/atlantis", "/c/newtown"):
        page = await browser.get(url, expect=404)
        assert page.title.startswith("找不到页面")
        assert "前往城市列表" in page.text
        assert "cityhub_city" not in page.set_cookies()


async def test_errors_are_pages_for_browsers_and_problems_for_the_api(
    browser: Browser, api: Api
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await browser.get("/no-such-page", headers=html, expect=404)
    assert page.title.startswith("找不到页面")
    wrong_method = await browser.get("/console/sign-out", headers=html, expect=405)
    assert wrong_method.response.headers["allow"] == "POST"
    # /v1 and machine clients keep RFC 9457 answers
    problem = await api.get("/v1/no-such-thing", headers=html, expect=404)
    assert problem["code"] == "not_found"
    await api.get("/no-such-page", expect=404)


async def test_language_switch_never_leaves_the_site(browser: Browser) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        answer = await browser.get(f"/lang/zh-Hant?next={target}", expect=303)
        assert answer.response.headers["location"] == "/"
    kept = await browser.get("/lang/zh-Hant?next=/c/x%3Fa%3D1", expect=303)
    assert kept.response.headers["location"] == "/c/x?a=1"
    page = await browser.get("/lang/klingon", expect=404)
    assert page.lang == "zh-Hant"  # the earlier switches took effect


async def test_the_stylesheet_is_served_with_a_visible_focus_style(browser: Browser) -> None:
    answer = await browser.client.get("/static/site.css")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/css")
    assert ":focus-visible" in answer.text and "outline: 3px" in answer.text


async def test_a_failure_on_our_side_is_a_page_without_details(app: Any, db: Database) -> None:
    await named_city(db, "guangzhou", "广州", "廣州", "Guangzhou")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        async with db.engine.begin() as conn:  # the database loses a table under the hub
            await conn.execute(text("ALTER TABLE cities RENAME TO cities_away"))
        try:
            page = check_page(await client.get("/"))
            problem = await client.get("/v1/cities")
        finally:
            async with db.engine.begin() as conn:
                await conn.execute(text("ALTER TABLE cities_away RENAME TO cities"))
    assert page.status == 500 and page.title.startswith("出错了")
    assert "cities_away" not in page.response.text and "sqlalchemy" not in page.response.text
    assert problem.status_code == 500
    assert problem.headers["content-type"].startswith("application/problem+json")
