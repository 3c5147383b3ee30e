"""Browsing a hospital on the portal: sessions chosen by department, day and doctor, a few a
page; a session's page offers its doctor's next sessions with places; the fee is labelled
as the registration fee (挂号费), not as a service charge."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from cityhub.appointments import schedules
from cityhub.appointments.schemas import SessionCreate, SlotIn
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from cityhub.web.portal.appointments import SESSIONS_A_PAGE
from tests.browser.world import WebWorld, web_world
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import HOSPITAL, verified

__all__ = ["sim", "simulator"]
SESSION = re.compile(r'data-testid="session"')


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    """The web world, and Dr Wang of paediatrics every morning and afternoon of five days."""
    found = await web_world(db, sim)
    today = dt.datetime.now(ZoneInfo(found.city.timezone)).date()
    async with db.unit_of_work() as session:
        for days in range(1, 6):
            for period in ("morning", "afternoon"):
                start = dt.time(9, 0) if period == "morning" else dt.time(14, 0)
                await schedules.create_session(
                    session=session,
                    city=found.city,
                    session_in=SessionCreate(
                        service="hospital",
                        department="pediatrics",
                        department_name="儿科",
                        practitioner="dr-wang",
                        practitioner_name="王医生",
                        day=today + dt.timedelta(days=days),
                        period=period,
                        fee_fen=1000,
                        slots=[SlotIn(start=start, end=start.replace(minute=30), capacity=1)],
                    ),
                )
    return found


async def test_sessions_are_paged_and_chosen_by_department_day_and_doctor(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    first = await browser.get(HOSPITAL)
    assert len(SESSION.findall(first.response.text)) == SESSIONS_A_PAGE  # 12 sessions, 6 a page
    assert "挂号费" in first.text and "手续费" not in first.text
    assert 'rel="next"' in first.response.text and 'rel="prev"' not in first.response.text
    second = await browser.get(f"{HOSPITAL}?page=2")
    assert len(SESSION.findall(second.response.text)) == 12 - SESSIONS_A_PAGE
    assert 'rel="prev"' in second.response.text and 'rel="next"' not in second.response.text
    beyond = await browser.get(f"{HOSPITAL}?page=9")
    assert beyond.text == second.text  # past the end: the last page

    cardiology = await browser.get(f"{HOSPITAL}?department=cardiology")
    assert len(SESSION.findall(cardiology.response.text)) == 2 and "王医生" not in cardiology.text
    tomorrow = dt.datetime.now(ZoneInfo(world.city.timezone)).date() + dt.timedelta(days=1)
    one_day = await browser.get(f"{HOSPITAL}?department=pediatrics&day={tomorrow.isoformat()}")
    assert len(SESSION.findall(one_day.response.text)) == 2  # the morning, then the afternoon
    assert one_day.text.index("上午") < one_day.text.index("下午")
    wang = await browser.get(f"{HOSPITAL}?doctor=dr-wang")
    assert 'data-testid="doctor-filter"' in wang.response.text and "李医生" not in wang.text
    nothing = await browser.get(f"{HOSPITAL}?department=dental")
    assert "Choose another department" in nothing.text or "其他科室" in nothing.text


async def test_a_session_offers_the_doctors_next_sessions_with_places(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await verified(browser, sim, world.phones[0], 1)
    wang = await browser.get(f"{HOSPITAL}?doctor=dr-wang")
    first = re.findall(r'href="/c/webtown/book/hospital/(ss-[0-9a-f]+)"', wang.response.text)[0]
    clinic = await browser.get(f"{HOSPITAL}/{first}")
    assert 'data-testid="registration-fee">¥10.00' in clinic.response.text
    offered = re.search(r'data-testid="next-free">(.*?)</ul>', clinic.response.text, re.S)
    assert offered is not None
    others = re.findall(r"/book/hospital/(ss-[0-9a-f]+)", offered.group(1))
    assert len(others) == 3 and first not in others
