"""The city console's operations pages: the channel grants editor, settlement batches and
reconciliation reports (with CSV export), and lottery rounds (create, close, draw, publish).
The connectors page is `console_connectors`.

Every page is for a city the staff member works in (another city's answers 404); reading is
for every role of the city, changing things for city admins only (the API's rules). Each
action calls the pillar's own functions, the ones the API routes call.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cityhub.billing import reconciliation, search, settlement
from cityhub.cities import service as cities
from cityhub.cities.enums import CityStatus, ServiceKind
from cityhub.connectors.deps import HubDep
from cityhub.identity import service as identity
from cityhub.identity.deps import StaffCaller, VaultDep, require_staff_role
from cityhub.identity.enums import Role
from cityhub.lottery import flows as lottery_flows
from cityhub.lottery import service as lotteries
from cityhub.lottery.schemas import DrawCreate, RoundCreate
from cityhub.platform import csvsafe, uow
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError
from cityhub.web.console.home import MAX_ROWS, NO_STORE, ConsoleStaff, _same
from cityhub.web.console.pages import _city, parties
from cityhub.web.pages import PageError, language, redirect, render

router = APIRouter(include_in_schema=False)
ADMINS = (Role.CITY_ADMIN,)
READERS = (Role.CITY_ADMIN, Role.AUDITOR)  # the money's back office (as the API)
Day = Annotated[str, Query(max_length=10)]


def _is_admin(staff: StaffCaller, city_id: int) -> bool:
    return staff.is_operator or staff.in_city(city_id, *ADMINS)


def _page(
    request: Request, staff: StaffCaller, page_template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    return render(
        request,
        page_template,
        status=status,
        headers=NO_STORE,
        staff=staff.staff,
        csrf_token=staff.session.csrf_token,
        **context,
    )


async def _undo(session: SessionDep, staff: StaffCaller) -> None:
    """Roll back what a refused action wrote, and load the staff member again for the page."""
    await uow.undo(session)
    for row in (staff.staff, staff.session, *staff.roles):
        await session.refresh(row)


async def _form(request: Request, staff: StaffCaller) -> dict[str, str]:
    """The posted form, if it carries the session's CSRF token (else a 403 page)."""
    form = await request.form()
    if not _same(form.get("csrf_token"), staff.session.csrf_token):
        raise PageError(403, "csrf_failed")
    return {k: v for k, v in form.items() if isinstance(v, str)}


# -- grants --------------------------------------------------------------------------------


@router.post("/console/c/{slug}/grants", response_class=HTMLResponse)
async def add_grant(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Let a channel offer one of the city's services (city admin)."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    if city.status == CityStatus.SUSPENDED:
        raise PageError(422, "city_suspended")
    channel = await identity.get_channel_by_slug_or_raise(
        session=session, slug=form.get("channel", "")[:60]
    )
    service = await cities.get_service_or_raise(
        session=session, city_id=city.id, code=form.get("service", "")[:60]
    )
    await cities.create_grant(
        session=session,
        actor=staff.actor,
        city=city,
        channel=channel,
        service=service,
        staff_id=staff.staff.id,
    )
    return redirect(f"/console/c/{city.slug}#grants")


@router.post("/console/c/{slug}/grants/{grant_id}/delete", response_class=HTMLResponse)
async def delete_grant(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, grant_id: str
) -> Response:
    """Withdraw a grant (city admin)."""
    await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    if not grant_id.isdigit() or len(grant_id) > 18:
        raise PageError(404, "grant_not_found")
    await cities.delete_grant(session=session, actor=staff.actor, city=city, grant_id=int(grant_id))
    return redirect(f"/console/c/{city.slug}#grants")


# -- settlement and reconciliation ---------------------------------------------------------


def _day(value: str, tz: str) -> dt.date:
    """A day the visitor chose (today in the city's time by default)."""
    if not value:
        return today_in(tz)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "invalid_day") from None


@router.get("/console/c/{slug}/settlement", response_class=HTMLResponse)
async def settlement_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, day: Day = ""
) -> Response:
    """The day's settlement batches and its latest reconciliation report (admin, auditor)."""
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *READERS)
    chosen = _day(day, city.timezone)
    found = await settlement.batches(session=session, city_id=city.id, day=chosen)
    names = await settlement.party_names(session=session, city_id=city.id)
    report = await reconciliation.report(session=session, city=city, day=chosen)
    start, end = settlement.day_bounds(chosen, city.timezone)
    return _page(
        request,
        staff,
        "console/settlement.html",
        city=city,
        section="settlement",
        day=chosen,
        batches=[settlement.batch_read(b, names) for b in found],
        report=report,
        moved=await search.moved_between(session=session, city_id=city.id, start=start, end=end),
        parties=await parties(session, city, language(request)),
        today=today_in(city.timezone),
        is_admin=_is_admin(staff, city.id),
    )


@router.post("/console/c/{slug}/settlement", response_class=HTMLResponse)
async def run_settlement(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Make the day's batches (again: the same batches), as `POST /settlements` does."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    chosen = _day(form.get("day", "")[:10], city.timezone)
    await settlement.run(session=session, actor=staff.actor, city=city, day=chosen)
    return redirect(f"/console/c/{city.slug}/settlement?day={chosen.isoformat()}")


@router.post("/console/c/{slug}/reconciliation", response_class=HTMLResponse)
async def run_reconciliation(
    request: Request, session: SessionDep, staff: ConsoleStaff, hub: HubDep, slug: str
) -> Response:
    """Reconcile the day against the billers' and channels' statements, as the API does."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    chosen = _day(form.get("day", "")[:10], city.timezone)
    await reconciliation.run(session=session, hub=hub, actor=staff.actor, city=city, day=chosen)
    return redirect(f"/console/c/{city.slug}/settlement?day={chosen.isoformat()}#reconciliation")


def _csv(name: str, text: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/console/c/{slug}/settlement/{day}/batches.csv")
async def batches_csv(session: SessionDep, staff: ConsoleStaff, slug: str, day: str) -> Response:
    """The day's batches as a CSV file."""
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *READERS)
    chosen = _day(day[:10] or "x", city.timezone)
    names = await settlement.party_names(session=session, city_id=city.id)
    found = await settlement.batches(session=session, city_id=city.id, day=chosen)
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(
        ["id", "day", "party", "party_name", "account", "currency", "entries", "net_fen"]
    )
    for b in (settlement.batch_read(x, names) for x in found):
        writer.writerow(
            [b.id, b.day, b.party, b.party_name, b.account, b.currency, b.entries, b.net_fen]
        )
    return _csv(f"settlement-{city.slug}-{chosen.isoformat()}.csv", out.getvalue())


@router.get("/console/c/{slug}/settlement/{day}/reconciliation.csv")
async def reconciliation_csv(
    session: SessionDep, staff: ConsoleStaff, slug: str, day: str
) -> Response:
    """The day's latest reconciliation report as a CSV file (`reconciliation.to_csv`)."""
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *READERS)
    chosen = _day(day[:10] or "x", city.timezone)
    found = await reconciliation.report(session=session, city=city, day=chosen)
    return _csv(
        f"reconciliation-{city.slug}-{chosen.isoformat()}.csv", reconciliation.to_csv(found)
    )


# -- lottery rounds ------------------------------------------------------------------------


async def _lottery_page(
    request: Request,
    session: SessionDep,
    staff: StaffCaller,
    slug: str,
    *,
    status: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    city = await _city(session, staff, slug)
    rounds = await lotteries.get_all_rounds(
        session=session, city_id=city.id, after=None, limit=MAX_ROWS
    )
    services = [
        s
        for s in await cities.get_all_services(session=session, city_id=city.id, limit=MAX_ROWS)
        if s.kind == ServiceKind.LOTTERY
    ]
    return _page(
        request,
        staff,
        "console/lotteries.html",
        status=status,
        city=city,
        section="lotteries",
        rounds=[
            (r, lotteries.phase(r), await lotteries.applicants_now(session=session, round_=r))
            for r in reversed(rounds)
        ],
        services=services,
        is_admin=_is_admin(staff, city.id),
        error=error,
        form=form or {},
    )


@router.get("/console/c/{slug}/lotteries", response_class=HTMLResponse)
async def lottery_rounds(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's rounds, newest first, with what can be done next to each."""
    return await _lottery_page(request, session, staff, slug)


def _local(value: str, tz: str) -> dt.datetime:
    """A `datetime-local` field's value, in the city's time."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(tz))


@router.post("/console/c/{slug}/lotteries", response_class=HTMLResponse)
async def create_round(
    request: Request, session: SessionDep, vault: VaultDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Create a round and publish its commitment (city admin)."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    try:
        round_in = RoundCreate(
            code=form.get("code", ""),
            service=form.get("service", ""),
            kind=form.get("kind", ""),
            title=form.get("title", ""),
            opens_at=_local(form.get("opens_at", ""), city.timezone),
            closes_at=_local(form.get("closes_at", ""), city.timezone),
            quota=int(form.get("quota", "") or 0),
            commitment=form.get("commitment", "").strip().lower() or None,
        )
        await lotteries.create_round(
            session=session, vault=vault, actor=staff.actor, city=city, round_in=round_in
        )
    except (ValueError, ValidationError) as exc:
        await _undo(session, staff)
        problems = exc.errors() if isinstance(exc, ValidationError) else []
        where = ", ".join(str(p["loc"][-1]) for p in problems if p.get("loc")) or "form"
        return await _lottery_page(
            request, session, staff, slug, status=422, error=f"invalid: {where}", form=form
        )
    except CityHubError as exc:
        await _undo(session, staff)
        return await _lottery_page(
            request, session, staff, slug, status=exc.status, error=exc.detail, form=form
        )
    return redirect(f"/console/c/{city.slug}/lotteries")


@router.post("/console/c/{slug}/lotteries/{code}/{step}", response_class=HTMLResponse)
async def round_step(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    staff: ConsoleStaff,
    slug: str,
    code: str,
    step: str,
) -> Response:
    """Close (re-check eligibility, publish the list's hash), draw (the secret and the public
    value) or publish the results (city admin)."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    code = code[:60]
    try:
        if step == "close":
            await lottery_flows.close(
                session=session, vault=vault, hub=hub, actor=staff.actor, city=city, code=code
            )
        elif step == "draw":
            try:
                draw_in = DrawCreate(
                    secret=form.get("secret") or None, public_value=form.get("public_value", "")
                )
            except ValidationError:
                raise PageError(422, "invalid_draw") from None
            await lotteries.draw_round(
                session=session,
                vault=vault,
                actor=staff.actor,
                city=city,
                code=code,
                draw_in=draw_in,
            )
        elif step == "publish":
            await lotteries.publish_round(session=session, actor=staff.actor, city=city, code=code)
        else:
            raise PageError(404, "step_not_found")
    except CityHubError as exc:
        if exc.status == 404:
            raise
        await _undo(session, staff)
        return await _lottery_page(
            request, session, staff, slug, status=exc.status, error=exc.detail
        )
    return redirect(f"/console/c/{city.slug}/lotteries#round-{code}")
