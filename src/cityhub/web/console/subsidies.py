"""Subsidy campaigns in the console: a city admin creates, watches (claimed, used, left, by
channel, and one settlement line per channel) and stops them; an auditor watches. The same
`subsidies` service the API calls."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cityhub.identity.deps import StaffCaller, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError
from cityhub.subsidies import service as subsidies
from cityhub.subsidies.schemas import CampaignCreate
from cityhub.web.console.home import MAX_ROWS, ConsoleStaff
from cityhub.web.console.ops import _form, _undo
from cityhub.web.console.pages import _city, _page
from cityhub.web.pages import PageError, redirect

router = APIRouter(include_in_schema=False)
WATCHERS = (Role.CITY_ADMIN, Role.AUDITOR)


async def _campaigns_page(
    request: Request, session: SessionDep, staff: StaffCaller, slug: str, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    city = await _city(session, staff, slug)
    if not (staff.is_operator or staff.in_city(city.id, *WATCHERS)):
        raise PageError(403, "role_required")
    rows = await subsidies.get_all(session=session, city_id=city.id, limit=MAX_ROWS)
    campaigns = [
        (
            await subsidies.read(session=session, city_slug=city.slug, row=r),
            await subsidies.figures(session=session, row=r),
            await subsidies.settlement(session=session, row=r),
        )
        for r in rows
    ]
    response = _page(
        request, staff, "console/subsidies.html", city, campaigns=campaigns, error=error,
        form=form or {}, is_admin=staff.is_operator or staff.in_city(city.id, Role.CITY_ADMIN),
    )  # fmt: skip
    response.status_code = status
    return response


@router.get("/console/c/{slug}/subsidies", response_class=HTMLResponse)
async def campaigns(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's campaigns, newest first: claimed, used, left, by channel, and settlement."""
    return await _campaigns_page(request, session, staff, slug)


def _local(value: str, tz: str) -> dt.datetime:
    """A `datetime-local` field's value, in the city's time."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz))


def _fen(value: str) -> int:
    """Yuan as typed (`12.5`) in fen."""
    return round(float(value or "0") * 100)


def _campaign_in(form: dict[str, str], tz: str) -> CampaignCreate:
    kind = form.get("benefit_kind", "voucher")
    value = form.get("benefit_value", "")
    data: dict[str, Any] = {
        "code": form.get("code", ""), "name": form.get("name", ""),
        "budget_fen": _fen(form.get("budget", "")), "benefit_kind": kind,
        "benefit_value": round(float(value or "0") * 100) if kind == "percent" else _fen(value),
        "cap_fen": _fen(form["cap"]) if form.get("cap") else None,
        "per_person": int(form.get("per_person", "") or 1),
        "starts_at": _local(form.get("starts_at", ""), tz),
        "ends_at": _local(form.get("ends_at", ""), tz),
    }  # fmt: skip
    if form.get("eligibility_service"):
        data["eligibility_service"] = form["eligibility_service"]
        data["eligibility_list"] = form.get("eligibility_list") or None
    return CampaignCreate.model_validate(data)


@router.post("/console/c/{slug}/subsidies", response_class=HTMLResponse)
async def create_campaign(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Create a campaign (city admin): amounts in yuan, times in city time."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    try:
        await subsidies.create(
            session=session, city_id=city.id, actor=staff.actor,
            campaign_in=_campaign_in(form, city.timezone),
        )  # fmt: skip
    except (ValueError, ValidationError) as exc:
        await _undo(session, staff)
        problems = exc.errors() if isinstance(exc, ValidationError) else []
        where = ", ".join(str(p["loc"][-1]) for p in problems if p.get("loc")) or "form"
        return await _campaigns_page(
            request, session, staff, slug, status=422, error=f"invalid: {where}", form=form
        )
    except CityHubError as exc:
        await _undo(session, staff)
        return await _campaigns_page(
            request, session, staff, slug, status=exc.status, error=exc.detail, form=form
        )
    return redirect(f"/console/c/{city.slug}/subsidies")


@router.post("/console/c/{slug}/subsidies/{code}/stop", response_class=HTMLResponse)
async def stop_campaign(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, code: str
) -> Response:
    """Stop a campaign (city admin): unused claims go back to the budget."""
    await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    await subsidies.stop(session=session, city_id=city.id, code=code[:60], actor=staff.actor)
    return redirect(f"/console/c/{city.slug}/subsidies")
