"""The console's hospital pages without a browser: schedules and their CSV upload (all rows or
none), waitlists, the check-in desk (only on the day, only once, audited), roles, and another
city's staff."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from cityhub.appointments.models import Booking, BookingStatus, ClinicSession, Slot
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.appointments.factories import the_day_comes
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD, create_staff
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import book, booking_id, verified

__all__ = ["sim", "simulator"]
BASE = "/console/c/webtown"
PAGES = ["/hospitals", "/hospitals/waitlists", "/check-in"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


def csv_of(day: dt.date, *, capacity: str = "3") -> str:
    head = (
        "service,department,department_name,practitioner,practitioner_name,practitioner_title,"
        "day,period,fee_fen,slot_start,slot_end,capacity\n"
    )
    rows = [
        f"hospital,derm,Dermatology,dr-zhao,Dr Zhao,,{day},afternoon,500,14:00,14:30,{capacity}",
        f"hospital,derm,Dermatology,dr-zhao,Dr Zhao,,{day},afternoon,500,14:30,15:00,2",
    ]
    return head + "\n".join(rows) + "\n"


async def sessions(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ClinicSession)) or 0)


async def test_staff_see_the_schedules_and_upload_a_csv_all_or_nothing(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    await browser.sign_in(world.clerk.username, PASSWORD)
    page = await browser.get(f"{BASE}/hospitals")
    assert page.response.text.count('data-testid="session"') == 2
    assert "李明" in page.text and "第一人民医院" in page.text
    form = page.form(f"{BASE}/hospitals/upload")
    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() + dt.timedelta(days=2)

    bad = await browser.post(
        f"{BASE}/hospitals/upload",
        data=form.fields,
        files={"file": ("s.csv", csv_of(day, capacity="lots"), "text/csv")},
        expect=422,
    )
    assert 'data-testid="upload-error"' in bad.response.text and "没有任何改动" in bad.text
    assert await sessions(db) == 2

    good = await browser.post(
        f"{BASE}/hospitals/upload",
        data=form.fields,
        files={"file": ("s.csv", csv_of(day), "text/csv")},
        expect=200,
    )
    assert 'data-testid="uploaded"' in good.response.text and "Dr Zhao" in good.text
    assert await sessions(db) == 3
    async with db.unit_of_work() as session:
        logged = await session.scalar(
            select(func.count()).where(AuditEntry.action == "appointments.sessions.upload")
        )
    assert logged == 1

    forged = await browser.post(
        f"{BASE}/hospitals/upload",
        data={"csrf_token": "forged"},
        files={"file": ("s.csv", csv_of(day), "text/csv")},
        expect=403,
    )
    assert forged.status == 403 and await sessions(db) == 3


async def test_the_desk_checks_a_patient_in_on_the_day_only_once(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, hub_clock: Clock
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    bk = booking_id(await book(browser, world.sessions["open"]))
    async with db.unit_of_work() as session:  # the fee is waived for this test: booked
        await session.execute(
            update(Booking).where(Booking.public_id == bk).values(status=BookingStatus.BOOKED)
        )
        code = await session.scalar(select(Booking.checkin_code).where(Booking.public_id == bk))
    assert code is not None
    browser.client.cookies.clear()
    await browser.sign_in(world.clerk.username, PASSWORD)

    missing = await browser.get(f"{BASE}/check-in?code=NOSUCHCODE", expect=404)
    assert 'data-code="booking_not_found"' in missing.response.text
    tomorrow = await browser.get(f"{BASE}/check-in?code={code.lower()}")
    assert bk in tomorrow.text and "310***********" in tomorrow.text
    assert f"{BASE}/check-in" not in [f.action for f in tomorrow.forms if f.method == "post"]
    csrf = (await browser.get(f"{BASE}/hospitals")).form(f"{BASE}/hospitals/upload").fields
    wrong_day = await browser.post(
        f"{BASE}/check-in", data={"csrf_token": csrf["csrf_token"], "code": code}, expect=409
    )
    assert 'data-code="wrong_day"' in wrong_day.response.text

    await the_day_comes(db, bk, hub_clock)
    browser.client.cookies.clear()  # the desk signs in on the day
    await browser.sign_in(world.clerk.username, PASSWORD)
    desk = await browser.get(f"{BASE}/check-in?code={code}")
    form = next(f for f in desk.forms if f.method == "post" and f.action == f"{BASE}/check-in")
    done = await browser.post(f"{BASE}/check-in", data=form.fields)
    shown = await browser.get(done.response.headers["location"])
    assert 'data-status="checked_in"' in shown.response.text
    assert 'data-testid="checked-in"' in shown.response.text
    again = await browser.post(f"{BASE}/check-in", data=form.fields, expect=409)
    assert 'data-code="not_checkable"' in again.response.text
    async with db.unit_of_work() as session:
        logged = await session.scalar(
            select(func.count()).where(AuditEntry.action == "appointments.check_in")
        )
    assert logged == 1


async def test_waitlists_show_who_waits_in_line(
    browser: Browser, sim: Sim, world: WebWorld, db: Database
) -> None:
    await browser.sign_in(world.admin.username, PASSWORD)
    empty = await browser.get(f"{BASE}/hospitals/waitlists")
    assert "没有人在候补" in empty.text
    async with db.unit_of_work() as session:  # every place of tomorrow's session is taken
        clinic = await session.scalar(
            select(ClinicSession).where(ClinicSession.public_id == world.sessions["open"])
        )
        assert clinic is not None
        await session.execute(
            update(Slot).where(Slot.session_id == clinic.id).values(taken=Slot.capacity)
        )
    browser.client.cookies.clear()
    await verified(browser, sim, world.phones[1], 5)
    url = f"/c/webtown/book/hospital/{world.sessions['open']}"
    page = await browser.get(url)
    await browser.post(f"{url}/waitlist", data=page.form(f"{url}/waitlist").fields)
    browser.client.cookies.clear()
    await browser.sign_in(world.admin.username, PASSWORD)
    listed = await browser.get(f"{BASE}/hospitals/waitlists")
    assert listed.response.text.count('data-testid="waitlist"') == 1
    assert "李明" in listed.text and "候补中" in listed.text


async def test_other_roles_get_403_and_another_citys_staff_404(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR)
    await browser.sign_in(auditor.username, PASSWORD)
    for path in PAGES:
        await browser.get(f"{BASE}{path}", expect=403)
    browser.client.cookies.clear()
    await browser.sign_in(world.other_admin.username, PASSWORD)
    for path in PAGES:
        page = await browser.get(f"{BASE}{path}", expect=404)
        assert "李明" not in page.response.text
    await browser.get("/console/c/othertown/hospitals")
