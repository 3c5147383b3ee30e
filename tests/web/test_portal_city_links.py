"""A city's page links every service the portal has a page for: the 12345 hotline (a request
service) and the city's notices, as well as bills, queries and hospitals."""

from __future__ import annotations

from cityhub.cities.enums import ServiceKind
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.connectors.factories import connected_service
from tests.web.browser import Browser


async def test_the_hotline_and_the_city_notices_are_links(browser: Browser, db: Database) -> None:
    city = await create_city(db)
    for code, kind in (
        ("hotline-12345", ServiceKind.REQUEST),
        ("city-notices", ServiceKind.NOTICE),
    ):
        await connected_service(
            db, city=city, code=code, kind=kind, connector=f"hub:{kind.value}s", config={},
            category="government_affairs",
        )  # fmt: skip
    page = await browser.get(f"/c/{city.slug}")
    html = page.response.text
    assert f'class="service-name" href="/c/{city.slug}/requests/new"' in html
    assert f'class="service-name" href="/c/{city.slug}/notices"' in html
    assert '<span class="service-name">' not in html
