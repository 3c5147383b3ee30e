"""Service requests in the city console: the queue by department, the SLA board and the
figures, and a request's page with its steps (notes, assign, transfer, hold, resolve, close).

Each step is the same `requests.handling` function the API calls, with the staff member as
the handler: staff see their departments' requests only (city admins every department).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity.deps import StaffCaller
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError, NotFound
from cityhub.requests import catalogue, handling, queue, service, sla
from cityhub.web.console.home import NO_STORE, ConsoleStaff, _same
from cityhub.web.console.pages import _city
from cityhub.web.pages import PageError, language, redirect, render

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
STEPS = {"triage", "assign", "notes", "transfer", "hold", "resume", "resolve", "close"}
FIGURES_DAYS = 30


def _page(
    request: Request, staff: StaffCaller, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        status=status,
        headers=NO_STORE,
        staff=staff.staff,
        csrf_token=staff.session.csrf_token,
        section="requests",
        lang=language(request),
        **context,
    )


@router.get("/console/c/{slug}/requests", response_class=HTMLResponse)
async def request_queue(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    department: str = "",
    status: str = "",
) -> Response:
    """The queue (soonest deadline first), the SLA board and the month's figures."""
    city = await _city(session, staff, slug)
    handler = await service.handler_of(session=session, city=city, caller=staff)
    try:
        found = await queue.for_handler(
            session=session,
            city=city,
            handler=handler,
            status=status[:20] or None,
            department=department[:60] or None,
            limit=100,
        )
    except CityHubError:
        raise PageError(404, "not_found") from None
    now = utcnow()
    rows = [await service.read_of(session=session, city=city, request=r) for r in found]
    types = await catalogue.get_all_types(session=session, city_id=city.id, active_only=False)
    departments = await catalogue.get_all_departments(session=session, city_id=city.id)
    return _page(
        request,
        staff,
        "console/requests.html",
        city=city,
        rows=rows,
        now=now,
        names={t.code: t.names for t in types},
        departments=departments,
        board=await sla.board(session=session, city=city, now=now, departments=handler.departments),
        volume=await sla.volume(
            session=session, city=city, since=now - dt.timedelta(days=FIGURES_DAYS)
        ),
        chosen_department=department,
        chosen_status=status,
        days=FIGURES_DAYS,
    )


async def _request(
    session: AsyncSession, staff: StaffCaller, city: City, number: str
) -> tuple[service.Handler, Any]:
    handler = await service.handler_of(session=session, city=city, caller=staff)
    try:
        found = await service.get_for_handler_or_raise(
            session=session, city=city, handler=handler, public_id=number[:24]
        )
    except NotFound:
        raise PageError(404, "request_not_found") from None
    return handler, found


async def _request_page(
    request: Request,
    session: AsyncSession,
    staff: StaffCaller,
    city: City,
    number: str,
    *,
    status: int = 200,
    error: CityHubError | None = None,
) -> Response:
    _handler, found = await _request(session, staff, city, number)
    read = await service.read_of(
        session=session, city=city, request=found, timeline=True, internal=True
    )
    department = await catalogue.get_department_by_id(session=session, request=found)
    types = await catalogue.get_all_types(session=session, city_id=city.id, active_only=False)
    return _page(
        request,
        staff,
        "console/request.html",
        status=status,
        city=city,
        item=read,
        names={t.code: t.names for t in types},
        error=error,
        members=(await queue.department_people(session=session, department=department))[1],
        departments=await catalogue.get_all_departments(session=session, city_id=city.id),
    )


@router.get("/console/c/{slug}/requests/{number}", response_class=HTMLResponse)
async def request_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, number: str
) -> Response:
    """One request: what, where, its timeline with internal notes, and the next steps."""
    city = await _city(session, staff, slug)
    return await _request_page(request, session, staff, city, number)


@router.post("/console/c/{slug}/requests/{number}/{step}", response_class=HTMLResponse)
async def request_step(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, number: str, step: str
) -> Response:
    """Take a step; the request page again, with the refusal when the step is not allowed."""
    form = await request.form()
    if not _same(form.get("csrf_token"), staff.session.csrf_token):
        raise PageError(403, "csrf_failed")
    if step not in STEPS:
        raise PageError(404, "not_found")
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str)}
    note = values.get("note", "")[:4000]
    city = await _city(session, staff, slug)
    handler, found = await _request(session, staff, city, number)
    common = {"session": session, "city": city, "handler": handler, "request": found}
    try:
        async with session.begin_nested():  # a refusal undoes only this step
            if step in ("triage", "hold", "resume", "resolve", "close", "notes", "transfer"):
                if not note:
                    raise CityHubError("write a note first", field="note")
            if step == "triage":
                await handling.triage(**common, note=note)
            elif step == "hold":
                await handling.hold(**common, reason=note)
            elif step == "assign":
                await handling.assign(**common, username=values.get("assignee", "")[:80])
            elif step == "notes":
                await handling.note(**common, text=note, public=values.get("public") == "1")
            elif step == "transfer":
                await handling.transfer(
                    **common, department_code=values.get("department", "")[:60], text=note
                )
            else:
                await getattr(handling, step)(**common, text=note)
    except CityHubError as exc:
        return await _request_page(
            request, session, staff, city, number, status=exc.status, error=exc
        )
    if step == "transfer" and not handler.may(found):
        return redirect(f"/console/c/{city.slug}/requests")
    return redirect(f"/console/c/{city.slug}/requests/{found.public_id}")
