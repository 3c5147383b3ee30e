"""The console's subsidies page: a city admin creates a campaign in yuan and city time,
watches what is claimed and left by channel, and stops it; an auditor watches only."""

from __future__ import annotations

from cityhub.identity.enums import Role
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff
from tests.simulators.fixtures import Sim
from tests.subsidies.factories import campaign_row, people, subsidy_world
from tests.web.browser import Browser
from tests.web.conftest import browser

__all__ = ["browser"]


async def test_an_admin_creates_watches_and_stops_a_campaign(
    api: Api, db: Database, sim: Sim, browser: Browser
) -> None:
    world = await subsidy_world(db, api, sim, channels=2)
    [user] = await people(world, 1)
    city = world.pay.city
    await create_staff(db, city=city, username="subsidy-admin", role=Role.CITY_ADMIN)
    await browser.sign_in("subsidy-admin", PASSWORD)
    url = f"/console/c/{city.slug}/subsidies"
    page = await browser.get(url)
    form = page.form(url)
    data = {
        **form.fields, "code": "winter", "name": "Winter heating help", "budget": "100",
        "benefit_kind": "voucher", "benefit_value": "5", "per_person": "1",
        "starts_at": "2026-01-01T08:00", "ends_at": "2099-01-01T08:00",
    }  # fmt: skip
    await browser.post(url, data=data)
    row = await campaign_row(db, "winter")
    assert (row.budget_fen, row.benefit_value, row.starts_at.hour) == (10_000, 500, 0)  # 08:00 +8
    again = await browser.post(url, data=data, expect=409)
    assert "exists" in again.text
    await world.claim("winter", user, channel=1)
    page = await browser.get(url)
    assert world.logins[1].channel.slug in page.text and "Winter heating help" in page.text
    await browser.post(f"{url}/winter/stop", data={"csrf_token": form.fields["csrf_token"]})
    assert (await campaign_row(db, "winter")).left_fen == 10_000  # the claim went back
    await create_staff(db, city=city, username="subsidy-auditor", role=Role.AUDITOR)
    browser.client.cookies.clear()
    await browser.sign_in("subsidy-auditor", PASSWORD)
    page = await browser.get(url)
    assert "Winter heating help" in page.text
    assert f"{url}/winter/stop" not in page.text and 'name="budget"' not in page.text
