"""The resident portal: choose a city, see its services; the language switch."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from cityhub.cities import service as cities
from cityhub.cities.enums import CityStatus, ServiceStatus
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.web import i18n
from cityhub.web.pages import (
    CITY_COOKIE,
    PageError,
    redirect,
    remember,
    safe_next,
)
from cityhub.web.portal.visitor import (
    ATTENTION_SOURCES,
    Attention,
    OptionalVisitor,
    page,
    service_page,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

router = APIRouter(include_in_schema=False)
# Enough for any city's catalogue on one page; paging comes with search.
MAX_SERVICES = 1000
MAX_CITIES = 1000


async def _live_city(session: SessionDep, slug: str | None) -> City | None:
    """A city residents may see: it exists and is active (onboarding ones are not open yet)."""
    if not slug:
        return None
    city = await cities.get_city_by_slug(session=session, slug=slug[:60])
    return city if city is not None and city.status == CityStatus.ACTIVE else None


async def live_city_or_404(session: SessionDep, slug: str) -> City:
    """A city residents may see, or the not-found page."""
    city = await _live_city(session, slug)
    if city is None:
        raise PageError(404, "city_not_found")
    return city


def _matches(service: Service, words: str) -> bool:
    """Whether a search matches the service's name in any language or its code."""
    names = (service.name_zh_hans, service.name_zh_hant, service.name_en.lower(), service.code)
    return all(any(w in n for n in names) for w in words.lower().split())


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request, session: SessionDep, settings: SettingsDep, visitor: OptionalVisitor
) -> HTMLResponse:
    """Choose a city; the one chosen last time comes first."""
    found = await cities.get_all_cities(session=session, after=None, limit=MAX_CITIES)
    live = [c for c in found if c.status == CityStatus.ACTIVE]
    remembered_slug = unquote(request.cookies.get(CITY_COOKIE, ""))
    remembered = next((c for c in live if c.slug == remembered_slug), None)
    return page(
        request, settings, "portal/home.html", visitor=visitor, cities=live, remembered=remembered
    )


@router.get("/c/{slug}", response_class=HTMLResponse)
async def city_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
    q: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """A city's services by category (or those a search finds), and what needs the signed-in
    resident's attention; the city is remembered for next time."""
    city = await live_city_or_404(session, slug)
    services = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES)
    by_category: dict[str, list[Service]] = defaultdict(list)
    words = q.strip()
    for service in services:
        if service.status == ServiceStatus.ACTIVE and (not words or _matches(service, words)):
            by_category[service.category_code].append(service)
    categories = await cities.get_all_categories(session=session)
    groups = [(c, by_category[c.code]) for c in categories if by_category.get(c.code)]
    attention: list[Attention] = []
    if visitor is not None:
        for source in ATTENTION_SOURCES:
            attention.extend(await source(session, city, visitor))
    fragment = request.headers.get("HX-Request") == "true"
    response = page(
        request,
        settings,
        "portal/_services.html" if fragment else "portal/city.html",
        visitor=visitor,
        city=city,
        groups=groups,
        q=words,
        attention=attention,
        service_page=service_page,
    )
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
