"""Portal sign-in rules: codes expire, allow a few attempts, are rate-limited per phone and per
client (a 429 page), the demo shows the code marked as demo, and no page shows the number."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select, update

from cityhub.identity.models import Channel
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from cityhub.web import signin
from cityhub.web.models import ResidentSession, SignInCode
from tests.helpers import move_past
from tests.identity.factories import create_channel
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import PHONE, ask_code, enter, last_code

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture(autouse=True)
async def portal(db: Database) -> None:
    login = await create_channel(db, slug="portal")
    async with db.unit_of_work() as session:
        await session.execute(
            update(Channel).where(Channel.id == login.channel.id).values(kind="portal")
        )


async def test_the_right_code_signs_in_once_and_no_page_shows_the_number(
    browser: Browser, sim: Sim, db: Database
) -> None:
    page = await ask_code(browser)
    assert "138****8000" in page.text and PHONE not in page.response.text
    assert "demo-code" not in page.response.text  # env=test: the code only goes by SMS

    signed_in = await enter(browser, page, last_code(sim), expect=303)

    assert signed_in.response.headers["location"] == "/me"
    me = await browser.get("/me")
    assert "138****8000" in me.text and PHONE not in me.response.text
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ResidentSession)) == 1
        stored = (await session.scalars(select(SignInCode))).one()
    assert stored.used_at is not None and PHONE.encode() not in stored.phone_enc


async def test_wrong_codes_use_up_the_attempts(browser: Browser, sim: Sim) -> None:
    page = await ask_code(browser)
    right = last_code(sim)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(signin.ATTEMPTS - 1):
        again = await enter(browser, page, wrong, expect=422)
        assert "验证码不正确" in again.text and again.forms
    last_try = await enter(browser, page, wrong, expect=422)
    assert "已失效" in last_try.text

    after = await enter(browser, page, right, expect=422)  # no attempt left: even the right one

    assert "已失效" in after.text
    assert (
        (await browser.get("/me", expect=303)).response.headers["location"].startswith("/sign-in")
    )


async def test_an_expired_code_does_not_sign_in(
    browser: Browser, sim: Sim, db: Database, hub_clock: Clock
) -> None:
    page = await ask_code(browser)
    async with db.unit_of_work() as session:
        expires_at = await session.scalar(select(SignInCode.expires_at))
    assert expires_at is not None
    move_past(hub_clock, expires_at)

    await enter(browser, page, last_code(sim), expect=422)

    await browser.get("/me", expect=303)


async def test_codes_are_rate_limited_per_phone_with_a_clear_page(
    browser: Browser, sim: Sim
) -> None:
    for _ in range(signin.PER_PHONE):
        await ask_code(browser)

    refused = await ask_code(browser, expect=429)

    assert 1 <= int(refused.response.headers["retry-after"]) <= signin.WINDOW.total_seconds()
    assert "请求太频繁" in refused.title and "429" in refused.text
    assert len(sim.control.get("/sms/sim-sms/messages").json()["messages"]) == signin.PER_PHONE


async def test_codes_asked_for_all_at_once_stay_within_the_limit(
    browser: Browser, sim: Sim
) -> None:
    """Counted with one conditional statement each: racing requests cannot all slip under."""
    form = (await browser.get("/sign-in?next=/me")).form("/sign-in/code")
    data = {**form.fields, "phone": PHONE}

    answers = await asyncio.gather(
        *(browser.client.post("/sign-in/code", data=data) for _ in range(8))
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: signin.PER_PHONE, 429: 8 - signin.PER_PHONE}
    assert len(sim.control.get("/sms/sim-sms/messages").json()["messages"]) == signin.PER_PHONE


async def test_codes_are_rate_limited_per_client(browser: Browser, sim: Sim) -> None:
    phones = [f"139{n:08d}" for n in range(signin.PER_CLIENT + 1)]
    for phone in phones[:-1]:
        await ask_code(browser, phone)

    await ask_code(browser, phones[-1], expect=429)


async def test_a_bad_number_or_a_foreign_form_is_refused(browser: Browser) -> None:
    page = await ask_code(browser, "12345", expect=422)
    assert page.forms
    async with httpx.AsyncClient(
        transport=browser.client._transport, base_url="http://hub.test"
    ) as stranger:
        answer = await stranger.post("/sign-in/code", data={"phone": PHONE, "csrf_token": "x"})
    assert answer.status_code == 403


async def test_the_demo_shows_the_code_marked_as_demo(
    browser: Browser, sim: Sim, settings: Settings
) -> None:
    settings.env = "demo"

    page = await ask_code(browser)

    assert 'data-testid="demo-code"' in page.response.text
    assert last_code(sim) in page.response.text
