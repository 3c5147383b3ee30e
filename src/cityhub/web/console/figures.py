"""The city's figures in the console (city admin, auditor): usage by service and channel, by
district and by day, small cells and their complements suppressed; the channel parity
report; the open-data downloads. The same `figures` functions the API calls."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.figures import parity
from cityhub.figures import service as figures
from cityhub.figures.suppression import THRESHOLD
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.web.console.home import ConsoleStaff
from cityhub.web.console.pages import _city, _page
from cityhub.web.pages import PageError

router = APIRouter(include_in_schema=False)
READERS = (Role.CITY_ADMIN, Role.AUDITOR)


@router.get("/console/c/{slug}/figures", response_class=HTMLResponse)
async def city_figures(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Usage and channel parity of the city, as they may be published."""
    city = await _city(session, staff, slug)
    if not staff.in_city(city.id, *READERS):
        raise PageError(403, "role_required")
    published = await figures.published(session=session, city=city)
    tables = {t.dims: t for t in published.tables}
    return _page(
        request,
        staff,
        "console/figures.html",
        city,
        threshold=THRESHOLD,
        by_service=tables[("pillar", "service")],
        by_district=tables[("district",)],
        by_day=tables[("day",)],
        total=tables[()],
        parity=await parity.report(session=session, city=city),
        not_recorded=parity.NOT_RECORDED,
    )
