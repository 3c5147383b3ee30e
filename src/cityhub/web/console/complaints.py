"""Channels' complaints in the console: a city admin or auditor sees the city's, the biller's
provider staff their provider's (the same `complaints` service the API calls; staff resolve
them through the API's decision route)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import service as cities
from cityhub.complaints import service as complaints
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.web.console.home import ConsoleStaff
from cityhub.web.console.pages import LIST_ROWS, _city, _page
from cityhub.web.pages import PageError

router = APIRouter(include_in_schema=False)
READERS = (Role.CITY_ADMIN, Role.AUDITOR, Role.PROVIDER_STAFF)


@router.get("/console/c/{slug}/complaints", response_class=HTMLResponse)
async def city_complaints(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The newest complaints the member may see, with their status and deadline."""
    city = await _city(session, staff, slug)
    if not staff.in_city(city.id, *READERS):
        raise PageError(403, "role_required")
    providers = staff.providers_in(city.id)
    service_ids = None
    if providers is not None:
        found = await cities.service_ids_of_providers(
            session=session, city_id=city.id, providers=providers
        )
        service_ids = list(found)
    rows = await complaints.get_all(
        session=session, city_id=city.id, service_ids=service_ids, limit=LIST_ROWS
    )
    items = [await complaints.read(session=session, city_slug=city.slug, row=r) for r in rows]
    return _page(request, staff, "console/complaints.html", city, complaints=items)
