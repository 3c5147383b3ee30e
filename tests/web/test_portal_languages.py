"""Every portal page a resident reads, in each of the three languages, holds no text of
another (tests/web/languages.py says how that is read): the hub's words, the content the city
entered (accounts, topics, departments, doctors' titles, lottery titles, providers) and the
answers of queries (labels, enum values, money and times as the language writes them)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from cityhub.web.i18n import LANGUAGES
from tests.browser.world import PORTAL_NAMES, WebWorld, send_notice, web_world
from tests.client import Api
from tests.identity.factories import PASSWORD
from tests.lottery.factories import commitment
from tests.outbox_helpers import drain
from tests.requests.factories import INSIDE, STREETLIGHT
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser, Page
from tests.web.helpers import book, booking_id, follow, quote, signed_in, verified, verify
from tests.web.languages import foreign

__all__ = ["sim", "simulator"]
AIR = "/c/webtown/query/air-quality"
TRAFFIC = "/c/webtown/query/traffic-violations"
FUND = "/c/webtown/query/housing-fund"
# What each language writes for a yuan amount and for a query's labels.
YUAN = {"zh-Hans": "¥", "zh-Hant": "¥", "en": "CN¥"}
FINE = {"zh-Hans": "罚款", "zh-Hant": "罰款", "en": "Fine"}
PLATES = "/c/webtown/lottery/car-plates"
# The history's kinds, and what each language calls some of its items.
KINDS = {"payment", "booking", "query", "application", "request", "notice", "consent"}
ROUND = {"zh-Hans": "十二月小客车指标", "zh-Hant": "十二月小客車指標", "en": "Car plates, December"}
LIGHT = {"zh-Hans": "路灯不亮", "zh-Hant": "路燈不亮", "en": "Street light out"}


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


def clean(page: Page) -> Page:
    found = foreign(page.response.text)
    assert found == [], f"{page.response.url} ({page.lang}):\n" + "\n".join(found)
    return page


async def a_round(api: Api, world: WebWorld) -> None:
    staff = await api.as_staff(world.admin.username, PASSWORD)
    now = dt.datetime.now(dt.UTC)
    await staff.post(
        "/v1/cities/webtown/lotteries",
        json={
            "code": "plates-1",
            "service": "car-plates",
            "kind": "car-plate",
            "title": "Car plates, December",
            "titles": {"zh-Hans": "十二月小客车指标", "zh-Hant": "十二月小客車指標",
                       "en": "Car plates, December"},
            "opens_at": (now - dt.timedelta(minutes=1)).isoformat(),
            "closes_at": (now + dt.timedelta(hours=1)).isoformat(),
            "quota": 1,
            "commitment": commitment(),
        },
    )  # fmt: skip


def _t(zh_hans: str, zh_hant: str, en: str) -> dict[str, str]:
    return {"zh-Hans": zh_hans, "zh-Hant": zh_hant, "en": en}


async def a_request_type(db: Database, world: WebWorld) -> None:
    """The city takes street-light reports (named in each language) in its area."""
    from cityhub.identity.audit import Actor
    from cityhub.requests import catalogue
    from cityhub.requests.schemas import DepartmentCreate, RequestSettingsUpdate, RequestTypeCreate

    what = [a | {"descriptions": _t("说明", "說明", "Details")} for a in STREETLIGHT["attributes"]]
    for attribute in what:
        for value in attribute.get("values", []):
            value["names"] = _t("不亮", "不亮", "Off")
    light = STREETLIGHT | {
        "names": LIGHT,
        "attributes": what,
        "descriptions": _t("路灯坏了", "路燈壞了", "A light is broken"),
    }
    area = {"area": {"south": 30.7, "west": 120.85, "north": 31.9, "east": 122.2}}
    async with db.unit_of_work() as session:
        city, actor = world.city, Actor.system()
        await catalogue.update_settings(
            session=session,
            actor=actor,
            city=city,
            settings_in=RequestSettingsUpdate.model_validate(area),
        )
        roads = {"code": "roads", "names": _t("道路", "道路", "Roads")}
        await catalogue.create_department(
            session=session,
            actor=actor,
            city=city,
            department_in=DepartmentCreate.model_validate(roads),
        )
        await catalogue.create_type(
            session=session, actor=actor, city=city, type_in=RequestTypeCreate.model_validate(light)
        )
    # fmt: skip


async def the_rest_of_a_history(
    browser: Browser, db: Database, settings: Settings, payment: str
) -> None:
    """The resident pays the quoted bill, applies for the plates and reports a street light:
    with the booking, the query, the notice and the consents, a history of every kind."""
    page = await browser.get(payment)
    await browser.post(payment + "/pay", data=page.form(payment + "/pay").fields)
    await drain(db, settings)
    apply = f"{PLATES}/plates-1/apply"
    await browser.post(apply, data=(await browser.get(PLATES)).form(apply).fields)
    new = "/c/webtown/requests/new"
    form = (await browser.get(new + "?type=streetlight")).form(new).fields
    await browser.post(new, data={**form, "description": "路灯不亮", "lat": str(INSIDE["lat"]),
                                  "lon": str(INSIDE["lon"]), "a_kind": "off"})  # fmt: skip


def history_of(page: Page, lang: str) -> list[str]:
    """The history's items in the reader's words (its channel by name, never a slug); the
    addresses of their pages."""
    html = page.response.text
    assert set(re.findall(r'data-testid="history-item" data-kind="(\w+)"', html)) == KINDS
    assert ROUND[lang] in page.text and LIGHT[lang] in page.text
    assert PORTAL_NAMES[lang] in page.text and ">portal<" not in html
    assert ">webtown<" not in html and "completed" not in page.text
    return re.findall(r'href="(/history/items/[^"]+)"', html)


async def a_complaint(browser: Browser, api: Api, world: WebWorld) -> str:
    """The resident complains about a service and the city answers; the complaint's page."""
    new = "/c/webtown/complaints/new"
    form = (await browser.get(new)).form(new).fields
    made = await browser.post(new, data={**form, "service": "power", "description": "A3"})
    url: str = made.response.headers["location"]
    staff = await api.as_staff(world.admin.username, PASSWORD)
    await staff.post(f"/v1/cities/webtown/complaints/{url.rsplit('/', 1)[1]}/decision",
                     json={"resolution": "#42"}, expect=200)  # fmt: skip
    return url


async def test_every_page_in_each_language_holds_no_other_language(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings, api: Api
) -> None:
    await a_round(api, world)
    await verified(browser, sim, world.phones[0], 0)  # signed in as the first simulated person
    await follow(browser)
    # A value typed once reads the same in every language (a placeholder has no translations).
    await send_notice(db, world.city, "A3")
    await drain(db, settings)
    payment = await quote(browser, world)
    booking = booking_id(await book(browser, world.sessions["open"]))
    me = sim.world.people[0]
    bill = world.unpaid("power")
    # A personal query before the walk: /me/data lists its accesses and consent in each language.
    form = (await browser.get(TRAFFIC)).form(TRAFFIC).fields | {"consent": "yes"}
    await browser.post(TRAFFIC, data={**form, "p_plate": me.plates[0]}, expect=200)
    complaint = await a_complaint(browser, api, world)
    for lang in LANGUAGES:
        browser.client.cookies.set("cityhub_lang", lang)
        pages = [
            "/", "/c/webtown", "/me", "/c/webtown/notices", "/c/webtown/payments", payment,
            f"/c/webtown/pay/power?account={bill.account}", "/c/webtown/pay/power?account=0",
            AIR, TRAFFIC, FUND, "/c/webtown/lottery/car-plates", "/c/webtown/book/hospital",
            f"/c/webtown/book/hospital/{world.sessions['open']}",
            f"/c/webtown/book/hospital/{world.sessions['later']}",
            "/c/webtown/appointments", f"/c/webtown/appointments/{booking}",
            "/c/webtown/family", "/c/webtown/requests", "/c/webtown/requests/new",
            "/me/data", "/c/nowhere", "/c/webtown/complaints", "/c/webtown/complaints/new",
            complaint, f"/c/webtown/complaints/new?payment={payment.rsplit('/', 1)[1]}",
            "/history",
        ]  # fmt: skip
        for url in pages:
            status = {"/c/nowhere": 404, "/c/webtown/pay/power?account=0": 404}.get(url, 200)
            page = clean(await browser.get(url, expect=status))
            assert page.lang == lang
        # Who read my data and why, what I consented to, and the apps, in the reader's words.
        mine = await browser.get("/me/data")
        assert mine.response.text.count('data-testid="access"') >= 4  # verify, registry, query
        assert mine.response.text.count('data-testid="consent"') >= 3  # identity, notices, records
        assert PORTAL_NAMES[lang] in mine.text
        assert not [n for other, n in PORTAL_NAMES.items() if other != lang and n in mine.text]
        inbox = await browser.get("/c/webtown/notices")
        entry = re.search(r'href="(/c/webtown/notices/\d+)"', inbox.response.text)
        assert entry
        clean(await browser.get(entry.group(1)))

        form = (await browser.get(TRAFFIC)).form(TRAFFIC).fields | {"consent": "yes"}
        answer = clean(await browser.post(TRAFFIC, data={**form, "p_plate": me.plates[0]},
                                          expect=200))  # fmt: skip
        # Labels, not field names; yuan, not fen.
        assert FINE[lang] in answer.text and YUAN[lang] in answer.text
        assert "fine_fen" not in answer.text and "occurred_at" not in answer.text
        fund = (await browser.get(FUND)).form(FUND).fields
        clean(await browser.post(FUND, data=fund, expect=200))
        air = (await browser.get(AIR)).form(AIR).fields
        clean(await browser.post(AIR, data={**air, "p_district": "浦东新区"}, expect=200))


async def test_the_history_in_each_language_holds_no_other_language(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, settings: Settings, api: Api
) -> None:
    await a_round(api, world)
    await a_request_type(db, world)
    # One who may enter the plate lottery (no car), verified, following the city's notices.
    person = next(p for p in sim.world.people if not sim.world.car_lottery_reasons(p))
    await signed_in(browser, sim, world.phones[0])
    await verify(browser, person, PLATES)
    await follow(browser)
    await send_notice(db, world.city, "A3")
    await drain(db, settings)
    payment = await quote(browser, world)
    await book(browser, world.sessions["open"])
    fund = (await browser.get(FUND)).form(FUND).fields | {"consent": "yes"}
    await browser.post(FUND, data=fund, expect=200)
    await the_rest_of_a_history(browser, db, settings, payment)
    for lang in LANGUAGES:
        browser.client.cookies.set("cityhub_lang", lang)
        # Every kind of item, and each item's page, in the reader's words.
        items = history_of(clean(await browser.get("/history")), lang)
        assert len(items) >= len(KINDS)
        for item in items:
            assert clean(await browser.get(item)).lang == lang


async def test_signed_out_pages_in_each_language(browser: Browser, world: WebWorld) -> None:
    for lang in LANGUAGES:
        browser.client.cookies.set("cityhub_lang", lang)
        for url in ("/sign-in", "/c/webtown", AIR, "/c/webtown/lottery/car-plates"):
            assert clean(await browser.get(url)).lang == lang


def test_the_reader_finds_each_kind_of_foreign_text() -> None:
    page = '<html lang="{}"><body><p>{}</p><p lang="en">English</p><code>cityhub demo</code>'
    assert foreign(page.format("en", "Pay 水费")) != []
    assert foreign(page.format("zh-Hans", "缴费 Pay")) != []
    assert foreign(page.format("zh-Hans", "繳費")) != []  # traditional on a zh-Hans page
    assert foreign(page.format("zh-Hant", "缴费")) != []  # simplified on a zh-Hant page
    assert foreign(page.format("zh-Hans", "沪A12345 CityHub 20:30 ¥15.00")) == []
    assert foreign(page.format("en", "Pay the water bill")) == []
