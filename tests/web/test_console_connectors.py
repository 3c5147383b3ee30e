"""The console's connectors page: every role sees the guards; city admins also set, rotate and
delete the city's connector secrets and see its descriptions, never a secret's value."""

from __future__ import annotations

import pytest

from cityhub.identity.models import Role, StaffUser
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.browser.world import WebWorld, web_world
from tests.identity.factories import PASSWORD, create_staff
from tests.simulators.fixtures import Sim, connector_settings, sim, simulator
from tests.web.browser import Browser

__all__ = ["sim", "simulator"]
BASE = "/console/c/webtown/connectors"
VALUE = "console-typed-secret-value"


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def world(db: Database, sim: Sim) -> WebWorld:
    return await web_world(db, sim)


async def as_staff(browser: Browser, user: StaffUser) -> str:
    """Sign in; the session's CSRF token."""
    browser.client.cookies.clear()
    await browser.sign_in(user.username, PASSWORD)
    return (await browser.sign_out_form()).fields["csrf_token"]


async def test_an_admin_sets_rotates_and_deletes_a_secret_without_ever_seeing_it(
    browser: Browser, world: WebWorld
) -> None:
    await as_staff(browser, world.admin)
    page = await browser.get(BASE)
    form = page.form(f"{BASE}/secrets")
    assert "value" in form.fields and form.fields["value"] == ""
    await browser.post(f"{BASE}/secrets", data={**form.fields, "name": "water-key", "value": VALUE})
    await browser.post(
        f"{BASE}/secrets", data={**form.fields, "name": "water-key", "value": VALUE + "-2"}
    )
    page = await browser.get(BASE)
    row = page.response.text.split('data-testid="secret-water-key"')[1].split("</tr>")[0]
    assert ">2<" in row  # the second version
    assert VALUE not in page.response.text  # neither value is shown, nor filled back in
    audit = await browser.get("/console/c/webtown/audit")
    assert "connector_secret.rotate" in audit.text and VALUE not in audit.response.text
    delete = next(f for f in page.forms if f.action == f"{BASE}/secrets/delete")
    await browser.post(f"{BASE}/secrets/delete", data=delete.fields)
    page = await browser.get(BASE)
    assert 'data-testid="secret-water-key"' not in page.response.text


async def test_other_roles_and_other_cities_cannot_touch_the_secrets(
    browser: Browser, world: WebWorld, db: Database
) -> None:
    token = await as_staff(browser, world.admin)
    await browser.post(
        f"{BASE}/secrets", data={"csrf_token": token, "name": "water-key", "value": VALUE}
    )
    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR, username="connaudit")
    token = await as_staff(browser, auditor)
    page = await browser.get(BASE)
    assert "water-key" not in page.response.text  # the guards only
    assert not [f for f in page.forms if f.action.startswith(f"{BASE}/secrets")]
    data = {"csrf_token": token, "name": "water-key", "value": "overwritten"}
    await browser.post(f"{BASE}/secrets", data=data, expect=403)
    token = await as_staff(browser, world.other_admin)
    await browser.get(BASE, expect=404)
    data["csrf_token"] = token
    await browser.post(f"{BASE}/secrets", data=data, expect=404)
