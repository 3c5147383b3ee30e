"""The portal's verify page by the rules of issue 12 §2: a population registry, the level
reached, a known person linked only by the code sent to the phone on their record; and once
linked, the portal session stands for the linked person (no loop back to /verify)."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import Person, RunningServer
from tests.browser.world import WebWorld, web_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel, last_code
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser
from tests.web.helpers import signed_in

__all__ = ["sim", "simulator"]
TRAFFIC = "/c/webtown/query/traffic-violations"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def known_through_a_partner(db: Database, api: Api, world: WebWorld, person: Person) -> None:
    """The person verified through a partner app, with their own phone on the record."""
    login = await create_channel(db)
    for service in world.services.values():
        await create_grant(db, channel=login.channel, service=service)
    partner = await api.as_channel(login.client_id, login.secret)
    await partner.post("/v1/residents", json={"user_id": "p1", "phone": person.phone})
    await partner.post(
        "/v1/residents/p1/verification",
        json={"name": person.name, "id_number": person.id_number, "purpose": "real-name",
              "city": "webtown"},
        expect=200,
    )  # fmt: skip


async def submit(browser: Browser, person: Person, **expect: Any) -> Any:
    shown = await browser.get(f"/verify?next={TRAFFIC}&city=webtown")
    assert '<option value="webtown" selected>' in shown.response.text
    form = shown.form("/verify")
    data = {
        **form.fields,
        "city": "webtown",
        "name": person.name,
        "id_number": person.id_number,
        "consent": "yes",
    }
    return await browser.post("/verify", data=data, **expect)


def texts(sim: Sim, phone: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sim.control.get(
        "/sms/sim-sms/messages", params={"to": phone}
    ).json()["messages"]
    return found


async def test_a_leaked_name_and_number_on_the_portal_read_nothing(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, api: Api
) -> None:
    person = sim.world.people[2]
    assert person.phone not in world.phones
    await known_through_a_partner(db, api, world, person)
    await signed_in(browser, sim, world.phones[1])  # the attacker's own phone
    level = await browser.get("/verify")
    assert (
        "not verified" in level.text
        or "未验证" in level.text
        or 'data-testid="level"' in level.response.text
    )
    asked = await submit(browser, person, expect=200)
    masked = person.phone[:3] + "****" + person.phone[-4:]
    assert masked in asked.text and 'action="/verify/code"' in asked.response.text
    assert len(texts(sim, person.phone)) == 1  # the code went to the record's phone...
    assert all("links" not in t["text"] for t in texts(sim, world.phones[1]))  # ...not here
    # Still nobody: no records, /me unverified, personal pages send them to /verify.
    refused = await browser.get(TRAFFIC, expect=303)
    assert refused.response.headers["location"].startswith("/verify")
    me = await browser.get("/me")
    assert person.id_number[-4:] not in me.text
    # A guessed code links nothing.
    code_form = asked.form("/verify/code").fields
    wrong = "000000" if last_code(sim.control, person.phone) != "000000" else "111111"
    await browser.post("/verify/code", data={**code_form, "code": wrong}, expect=422)
    await browser.get(TRAFFIC, expect=303)


async def test_after_the_link_the_session_stands_for_the_person(
    browser: Browser, sim: Sim, world: WebWorld, db: Database, api: Api
) -> None:
    person = sim.world.people[2]
    await known_through_a_partner(db, api, world, person)
    await signed_in(browser, sim, person.phone)  # the person, with their own phone
    asked = await submit(browser, person, expect=200)
    code_form = asked.form("/verify/code").fields
    linked = await browser.post(
        "/verify/code", data={**code_form, "code": last_code(sim.control, person.phone)}
    )
    assert linked.response.headers["location"] == TRAFFIC
    me = await browser.get("/me")
    assert 'data-testid="identity"' in me.response.text
    identity = me.response.text.split('data-testid="identity">', 1)[1].split("</dd>", 1)[0]
    assert person.id_number[-4:] in identity  # verified, with the masked number
    await browser.get(TRAFFIC, expect=200)  # no loop back to /verify
    await browser.get("/verify", expect=303)  # the level is reached: straight on


async def test_the_verify_page_refuses_what_the_registry_does_not_hold(
    browser: Browser, sim: Sim, world: WebWorld
) -> None:
    await signed_in(browser, sim, world.phones[0])
    person, other = sim.world.people[0], sim.world.people[1]
    wrong = Person(
        index=person.index, id_number=person.id_number, name=other.name, phone="", plates=()
    )
    page = await submit(browser, wrong, expect=422)
    assert 'role="alert"' in page.response.text
    await browser.get(TRAFFIC, expect=303)
    await submit(browser, person)  # the registry holds this one: straight back
    await browser.get(TRAFFIC, expect=200)
