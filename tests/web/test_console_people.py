"""The console's staff, channels and jobs pages, and the password form a reset member sees
before anything else; another city's admin finds nothing."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.identity.models import Channel, ChannelStatus, Role, StaffUser
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.scheduler import Scheduler
from tests.cities.factories import create_city
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.web.browser import Browser

NEW = "a-brand-new-password"


async def _csrf(browser: Browser) -> str:
    return (await browser.sign_out_form()).fields["csrf_token"]


async def _staff(db: Database, username: str) -> StaffUser:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(StaffUser).where(StaffUser.username == username))
    assert found is not None
    return found


async def test_an_admin_adds_a_clerk_who_must_choose_a_password_first(
    db: Database, browser: Browser
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    await browser.sign_in(admin.username, PASSWORD)
    page = await browser.get(f"/console/c/{city.slug}/staff")
    form = page.form(f"/console/c/{city.slug}/staff")
    made = await browser.post(
        f"/console/c/{city.slug}/staff",
        data={**form.fields, "username": "clerk", "display_name": "Clerk", "role": "auditor"},
        expect=200,
    )
    temporary = made.response.text.split('data-testid="temporary-password">')[1].split("<")[0]
    assert len(temporary) >= 12 and "clerk" in made.text

    browser.client.cookies.clear()
    await browser.sign_in("clerk", temporary)
    sent = await browser.get("/console/", expect=303)
    assert sent.response.headers["location"] == "/console/password"
    await browser.get(f"/console/c/{city.slug}", expect=303)
    form_page = await browser.get("/console/password")
    fields = form_page.form("/console/password").fields
    wrong = await browser.post(
        "/console/password",
        data={**fields, "current": temporary, "new": NEW, "confirm": NEW + "x"},
        expect=422,
    )
    assert 'id="form-error"' in wrong.response.text
    await browser.post(
        "/console/password", data={**fields, "current": temporary, "new": NEW, "confirm": NEW}
    )
    await browser.get(f"/console/c/{city.slug}")
    assert not (await _staff(db, "clerk")).must_change_password


async def test_an_admin_resets_and_disables_a_member_of_their_city_only(
    db: Database, browser: Browser
) -> None:
    city, other = await create_city(db), await create_city(db)
    admin = await create_staff(db, city=city)
    clerk = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    await create_staff(db, city=other, role=Role.AUDITOR, username="faraway")
    await browser.sign_in(admin.username, PASSWORD)
    page = await browser.get(f"/console/c/{city.slug}/staff")
    assert clerk.username in page.text and "faraway" not in page.text
    await browser.get(f"/console/c/{other.slug}/staff", expect=404)

    csrf = await _csrf(browser)
    reset = await browser.post(
        f"/console/c/{city.slug}/staff/{clerk.username}/reset",
        data={"csrf_token": csrf},
        expect=200,
    )
    assert 'data-testid="temporary-password"' in reset.response.text
    assert (await _staff(db, clerk.username)).must_change_password
    await browser.post(
        f"/console/c/{city.slug}/staff/{clerk.username}/active",
        data={"csrf_token": csrf, "active": "0"},
    )
    assert not (await _staff(db, clerk.username)).active
    await browser.post(
        f"/console/c/{city.slug}/staff/{clerk.username}/active",
        data={"csrf_token": "forged", "active": "1"},
        expect=403,
    )
    assert not (await _staff(db, clerk.username)).active


async def test_the_operator_changes_a_channels_scopes_and_status_an_admin_only_reads(
    db: Database, browser: Browser
) -> None:
    city = await create_city(db)
    login = await create_channel(db, scopes=("catalogue:read",))
    admin = await create_staff(db, city=city)
    operator = await create_staff(db, role=Role.OPERATOR)
    await browser.sign_in(admin.username, PASSWORD)
    page = await browser.get(f"/console/c/{city.slug}/channels")
    assert login.channel.client_id in page.text
    assert not [f for f in page.forms if f.action.endswith(f"/channels/{login.channel.slug}")]
    await browser.post(
        f"/console/c/{city.slug}/channels/{login.channel.slug}",
        data={"csrf_token": await _csrf(browser), "status": "suspended"},
        expect=403,
    )

    browser.client.cookies.clear()
    await browser.sign_in(operator.username, PASSWORD)
    csrf = await _csrf(browser)
    await browser.post(
        f"/console/c/{city.slug}/channels/{login.channel.slug}",
        data={
            "csrf_token": csrf,
            "status": "suspended",
            "scopes": ["catalogue:read", "payments:write"],
        },
    )
    async with db.unit_of_work() as session:
        found = await session.get(Channel, login.channel.id)
    assert found is not None and found.status == ChannelStatus.SUSPENDED
    assert found.scopes == "catalogue:read payments:write"


async def test_the_jobs_page_shows_each_jobs_last_and_next_run(
    db: Database, settings: Settings, browser: Browser
) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    await Scheduler(db, settings).run_due()
    await browser.sign_in(admin.username, PASSWORD)
    page = await browser.get(f"/console/c/{city.slug}/jobs")
    settle = page.response.text.split('data-testid="job-settle"')[1].split("</tr>")[0]
    assert "已完成" in settle and '"batches": 0' in settle.replace("&#34;", '"')
    csrf = await _csrf(browser)
    await browser.post(
        f"/console/c/{city.slug}/jobs/settle", data={"csrf_token": csrf, "cron": "45 2 * * *"}
    )
    page = await browser.get(f"/console/c/{city.slug}/jobs")
    settle = page.response.text.split('data-testid="job-settle"')[1].split("</tr>")[0]
    assert 'value="45 2 * * *"' in settle and "关闭" in settle  # "on" left unticked: off
    refused = await browser.post(
        f"/console/c/{city.slug}/jobs/settle",
        data={"csrf_token": csrf, "cron": "every day", "enabled": "1"},
        expect=422,
    )
    assert "cron" in refused.text
