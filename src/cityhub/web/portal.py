"""The resident portal: choose a city, see its services; the language switch."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cityhub.cities import service as cities
from cityhub.cities.models import City, CityStatus, Service, ServiceStatus
from cityhub.deps import SessionDep, SettingsDep
from cityhub.web import i18n
from cityhub.web.pages import CITY_COOKIE, PageError, redirect, remember, render, safe_next

router = APIRouter(include_in_schema=False)
# Enough for any city's catalogue on one page; paging comes with search.
MAX_SERVICES = 1000
MAX_CITIES = 1000


async def _live_city(session: SessionDep, slug: str | None) -> City | None:
    """A city residents may see: it exists and is active (onboarding ones are not open yet)."""
    if not slug:
        return None
    city = await cities.get_city_by_slug(session=session, slug=slug)
    return city if city is not None and city.status == CityStatus.ACTIVE else None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep) -> HTMLResponse:
    """Choose a city; the one chosen last time comes first."""
    found = await cities.get_all_cities(session=session, after=None, limit=MAX_CITIES)
    live = [c for c in found if c.status == CityStatus.ACTIVE]
    remembered_slug = unquote(request.cookies.get(CITY_COOKIE, ""))
    remembered = next((c for c in live if c.slug == remembered_slug), None)
    return render(request, "portal/home.html", cities=live, remembered=remembered)


@router.get("/c/{slug}", response_class=HTMLResponse)
async def city_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    slug: str,
) -> HTMLResponse:
    """A city's services, grouped by category; the city is remembered for next time."""
    city = await _live_city(session, slug)
    if city is None:
        raise PageError(404, "city_not_found")
    services = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES)
    by_category: dict[str, list[Service]] = defaultdict(list)
    for service in services:
        if service.status == ServiceStatus.ACTIVE:
            by_category[service.category_code].append(service)
    categories = await cities.get_all_categories(session=session)
    groups = [(c, by_category[c.code]) for c in categories if by_category.get(c.code)]
    response = render(request, "portal/city.html", city=city, groups=groups)
    remember(response, settings, CITY_COOKIE, city.slug)
    return response


@router.get("/lang/{code}")
async def switch_language(
    settings: SettingsDep,
    code: str,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> RedirectResponse:
    """Switch the pages' language and remember it; back to where the visitor was."""
    if code not in i18n.LANGUAGES:
        raise PageError(404, "language_not_found")
    response = redirect(safe_next(next_))
    remember(response, settings, i18n.LANG_COOKIE, code)
    return response
