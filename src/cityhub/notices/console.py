"""The console's notices page: a city's notices with what each led to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import service as cities
from cityhub.notices import service
from cityhub.platform.deps import SessionDep
from cityhub.web.console.home import NO_STORE, ConsoleStaff
from cityhub.web.pages import PageError, render

router = APIRouter(include_in_schema=False)
ROWS = 100


@router.get("/console/c/{slug}/notices", response_class=HTMLResponse)
async def console_notices(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's latest notices: recipients, how they were reached (pushed, or in the inbox
    only: the two add up to the recipients), opened, acted, amount paid."""
    city = await cities.get_city_by_slug(session=session, slug=slug)
    if city is None or not staff.in_city(city.id):
        raise PageError(404, "city_not_found")
    accounts = {a.id: a for a in await service.list_accounts(session=session, city_id=city.id)}
    notices = await service.list_notices(session=session, city_id=city.id, limit=ROWS)
    rows = [
        (
            n,
            accounts[n.account_id],
            await service.stats(session=session, notice=n),
            await service.delivered_by_route(session=session, notice=n),
        )
        for n in notices
    ]
    return render(
        request,
        "console/notices.html",
        headers=NO_STORE,
        staff=staff.staff,
        city=city,
        rows=rows,
        csrf_token=staff.session.csrf_token,
    )
