"""The city's figures in the console: usage and parity, small cells suppressed, for the
city's admins and auditors."""

from __future__ import annotations

from cityhub.identity.models import Role
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.history.factories import affairs, parents, people
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.web.browser import Browser


async def test_the_console_shows_the_figures_with_small_cells_suppressed(
    db: Database, browser: Browser, hub_clock: Clock
) -> None:
    p = await parents(db)
    for size in (12, 2):
        login = await create_channel(db)
        for resident, user in await people(db, channel_id=login.channel.id, count=size):
            hub_clock.advance(seconds=1)
            await affairs(
                db, p, resident_id=resident, channel_id=login.channel.id,
                channel_slug=login.channel.slug, user_id=user, district="xuhui", notice=False,
            )  # fmt: skip
    await create_staff(db, city=p.city, username="auditor", role=Role.AUDITOR)
    await browser.sign_in("auditor", PASSWORD)
    page = await browser.get(f"/console/c/{p.city.slug}/figures")
    html = page.response.text
    assert 'data-testid="parity"' in html and "xuhui" in page.text
    assert "不予公布" in page.text  # the channel of two people
    assert '<td class="num">14</td>' in html  # the total of people
    assert "/figures/open-data?format=parquet" in html
    await create_staff(db, city=p.city, username="clerk", role=Role.PROVIDER_STAFF)
    browser.client.cookies.clear()  # another member signs in on this browser
    await browser.sign_in("clerk", PASSWORD)
    await browser.get(f"/console/c/{p.city.slug}/figures", expect=403)
