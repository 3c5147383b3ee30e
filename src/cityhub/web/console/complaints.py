"""Channels' complaints in the console: the list (by status, type, overdue), a complaint's page
with its history, and the staff's steps on it: assign, escalate, resolve with the answer.

A city admin or auditor sees the city's complaints, the biller's provider staff their
provider's (another's answers 404, as if there were none); auditors read and never decide.
Each step is the `complaints.decisions` function the API's decision route calls: stored in the
history, audited, told to the channel by webhook and to the resident by a notice. Every form
carries the session's CSRF token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.complaints import decisions
from cityhub.complaints import service as complaints
from cityhub.complaints.enums import ComplaintStatus, ComplaintType
from cityhub.identity.deps import StaffCaller
from cityhub.identity.enums import Role
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError
from cityhub.web.console.home import NO_STORE, ConsoleStaff, _same
from cityhub.web.console.pages import LIST_ROWS, MAX_SERVICES, _city, _page
from cityhub.web.pages import PageError, redirect, render

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
READERS = (Role.CITY_ADMIN, Role.AUDITOR, Role.PROVIDER_STAFF)
DECIDERS = (Role.CITY_ADMIN, Role.PROVIDER_STAFF)
STEPS = ("assign", "escalate", "resolve")
STATUSES = tuple(s.value for s in ComplaintStatus)
TYPES = tuple(t.value for t in ComplaintType)
Filter = Annotated[str, Query(max_length=40)]


async def _service_ids(session: AsyncSession, staff: StaffCaller, city: City) -> list[int] | None:
    """The services whose complaints the member sees (None: every one of the city)."""
    if not staff.in_city(city.id, *READERS):
        raise PageError(403, "role_required")
    providers = staff.providers_in(city.id)
    if providers is None:
        return None
    found = await cities.service_ids_of_providers(
        session=session, city_id=city.id, providers=providers
    )
    return list(found)


async def _services(session: AsyncSession, city: City) -> dict[str, Any]:
    """The city's services by code: their names and their billers' names for the pages."""
    found = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES)
    return {s.code: s for s in found}


@router.get("/console/c/{slug}/complaints", response_class=HTMLResponse)
async def city_complaints(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    status: Filter = "",
    type: Filter = "",
    overdue: Filter = "",
) -> Response:
    """The newest complaints the member may see, with their status and deadline; by status,
    by type, or only those still open past their deadline."""
    city = await _city(session, staff, slug)
    service_ids = await _service_ids(session, staff, city)
    if (status and status not in STATUSES) or (type and type not in TYPES):
        raise PageError(400, "invalid_filter")
    now = utcnow()
    rows = await complaints.get_all(
        session=session,
        city_id=city.id,
        service_ids=service_ids,
        status=ComplaintStatus(status) if status else None,
        type=ComplaintType(type) if type else None,
        overdue_at=now if overdue == "1" else None,
        limit=LIST_ROWS,
    )
    items = [await complaints.read(session=session, city_slug=city.slug, row=r) for r in rows]
    return _page(
        request,
        staff,
        "console/complaints.html",
        city,
        complaints=items,
        services=await _services(session, city),
        now=now,
        form={"status": status, "type": type, "overdue": overdue == "1"},
        statuses=STATUSES,
        types=TYPES,
    )


async def _complaint(session: AsyncSession, staff: StaffCaller, city: City, number: str) -> Any:
    """The complaint, if the member may see it (else 404, as if there were none)."""
    service_ids = await _service_ids(session, staff, city)
    row = await complaints.get_or_raise(session=session, city_id=city.id, public_id=number[:40])
    if service_ids is not None and row.service_id not in service_ids:
        raise PageError(404, "complaint_not_found")
    return row


async def _complaint_page(
    request: Request,
    session: AsyncSession,
    staff: StaffCaller,
    city: City,
    row: Any,
    *,
    error: CityHubError | None = None,
) -> Response:
    item = await complaints.read(session=session, city_slug=city.slug, row=row)
    return render(
        request,
        "console/complaint.html",
        status=error.status if error is not None else 200,
        headers=NO_STORE,
        staff=staff.staff,
        city=city,
        csrf_token=staff.session.csrf_token,
        section="complaints",  # the nav's section, as on the list
        item=item,
        service=(await _services(session, city)).get(item.service),
        now=utcnow(),
        may_decide=staff.in_city(city.id, *DECIDERS),
        error=error,
    )


@router.get("/console/c/{slug}/complaints/{number}", response_class=HTMLResponse)
async def complaint_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, number: str
) -> Response:
    """One complaint: what it is about, its history, and the steps the member may take."""
    city = await _city(session, staff, slug)
    row = await _complaint(session, staff, city, number)
    return await _complaint_page(request, session, staff, city, row)


@router.post("/console/c/{slug}/complaints/{number}/{step}", response_class=HTMLResponse)
async def complaint_step(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, number: str, step: str
) -> Response:
    """Assign, escalate or resolve; the complaint's page again, with the refusal when the step
    is not allowed (nothing of it written)."""
    form = await request.form()
    if not _same(form.get("csrf_token"), staff.session.csrf_token):
        raise PageError(403, "csrf_failed")
    if step not in STEPS:
        raise PageError(404, "not_found")
    city = await _city(session, staff, slug)
    row = await _complaint(session, staff, city, number)
    if not staff.in_city(city.id, *DECIDERS):
        raise PageError(403, "role_required")
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        async with session.begin_nested():  # a refusal undoes only this step
            if step == "assign":
                await decisions.assign(session=session, row=row, actor=staff.actor,
                                       username=values.get("assignee", ""))  # fmt: skip
            elif step == "escalate":
                await decisions.escalate(session=session, row=row, actor=staff.actor,
                                         reason=values.get("note", ""))  # fmt: skip
            else:
                await decisions.resolve(session=session, row=row, actor=staff.actor,
                                        resolution=values.get("resolution", ""))  # fmt: skip
    except CityHubError as exc:
        await session.refresh(row)
        return await _complaint_page(request, session, staff, city, row, error=exc)
    return redirect(f"/console/c/{city.slug}/complaints/{row.public_id}")
