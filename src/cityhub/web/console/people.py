"""The console's pages for the people and the machinery of a city: its staff (a city admin
creates members, resets passwords, disables accounts, takes roles away), the channels that
serve it (the operator changes their scopes and status), its recurring jobs (last and next
run, outcome; admins change the schedule), and every member's own password form, which is
all a member sees after a reset until they have chosen a new password.

Each action calls the function the API route calls; a refusal is shown on the page and
leaves nothing written.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import jobs_admin
from cityhub.cities import service as cities
from cityhub.identity import channels, security
from cityhub.identity import service as identity
from cityhub.identity import staff as staff_admin
from cityhub.identity.deps import StaffCaller, require_staff_role
from cityhub.identity.enums import ChannelStatus, Role
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import CityHubError, Forbidden, Unprocessable
from cityhub.platform.outbound import OutboundPolicy
from cityhub.platform.scheduler import load_jobs
from cityhub.web.console.home import ConsoleStaff
from cityhub.web.console.ops import ADMINS, _form, _is_admin, _page, _undo
from cityhub.web.console.pages import _city
from cityhub.web.pages import PageError, redirect

router = APIRouter(include_in_schema=False)
CITY_ROLES = (Role.CITY_ADMIN, Role.PROVIDER_STAFF, Role.AUDITOR)


# -- own password --------------------------------------------------------------------------


@router.get("/console/password", response_class=HTMLResponse)
async def password_form(request: Request, staff: ConsoleStaff) -> Response:
    """Choose a new password (the only page after a reset until it is done)."""
    return _page(
        request, staff, "console/password.html", required=staff.staff.must_change_password,
        error=None,
    )  # fmt: skip


@router.post("/console/password", response_class=HTMLResponse)
async def change_password(request: Request, session: SessionDep, staff: ConsoleStaff) -> Response:
    """Check the current password and keep the new one; other sessions end."""
    form = await _form(request, staff)
    try:
        if form.get("new", "") != form.get("confirm", ""):
            raise Unprocessable("the two new passwords differ", code="passwords_differ")
        await staff_admin.change_own_password(
            session=session, staff=staff.staff, session_id=staff.session.id,
            current=form.get("current", "")[:200], new=form.get("new", "")[:200],
        )  # fmt: skip
    except CityHubError as exc:
        await _undo(session, staff)
        return _page(request, staff, "console/password.html", status=exc.status,
                     required=staff.staff.must_change_password, error=exc.code)  # fmt: skip
    return redirect("/console/")


# -- staff ---------------------------------------------------------------------------------


async def _staff_page(
    request: Request,
    session: SessionDep,
    staff: StaffCaller,
    slug: str,
    *,
    status: int = 200,
    **context: Any,
) -> Response:
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    members = await staff_admin.get_all(session=session, admin_cities={city.id})
    mine = staff.city_ids(Role.CITY_ADMIN)
    rows = [(m, staff_admin.may_manage(m, mine)) for m in members]
    context = {"error": None, "shown": None, **context}
    return _page(request, staff, "console/staff.html", status=status, city=city,
                 section="staff", rows=rows, roles=CITY_ROLES, **context)  # fmt: skip


@router.get("/console/c/{slug}/staff", response_class=HTMLResponse)
async def staff_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's staff: roles, account state, last sign-in; what the admin may change."""
    return await _staff_page(request, session, staff, slug)


async def _staff_action(
    request: Request,
    session: SessionDep,
    staff: StaffCaller,
    slug: str,
    action: str,
    name: str = "",
) -> Response:
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    mine = staff.city_ids(Role.CITY_ADMIN)
    shown: dict[str, Any] = {}
    try:
        if action == "create":
            username = form.get("username", "").strip()[:80]
            provider = form.get("provider", "").strip()[:120]
            member, temporary = await staff_admin.create(
                session=session, actor=staff.actor, admin_cities=mine, username=username,
                display_name=form.get("display_name", "").strip()[:120] or username,
                password=None, roles=[(city.id, _role(form.get("role", "")))],
                providers={city.id: provider} if provider else None,
            )  # fmt: skip
            shown = {"username": member.staff.username, "password": temporary}
        else:
            member = await staff_admin.get_or_raise(session=session, username=name[:80],
                                                    admin_cities={city.id})  # fmt: skip
            staff_admin.require_manageable(member, mine)
            if member.staff.id == staff.staff.id:
                raise Forbidden("you cannot change your own account here", code="own_account")
            if action == "reset":
                password = await staff_admin.reset_password(session=session, actor=staff.actor,
                                                            member=member)  # fmt: skip
                shown = {"username": member.staff.username, "password": password}
            elif action == "active":
                await staff_admin.set_active(session=session, actor=staff.actor, member=member,
                                             active=form.get("active") == "1")  # fmt: skip
            else:
                await staff_admin.remove_role(session=session, actor=staff.actor, admin_cities=mine,
                                              member=member, city_id=city.id,
                                              role=_role(form.get("role", "")))  # fmt: skip
    except CityHubError as exc:
        await _undo(session, staff)
        return await _staff_page(request, session, staff, slug, status=exc.status, error=exc.code)
    if shown:  # a password is shown once, on this answer only
        return await _staff_page(request, session, staff, slug, shown=shown)
    return redirect(f"/console/c/{city.slug}/staff")


def _role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        raise Unprocessable("choose a role", code="unknown_role", field="role") from None
    if role not in CITY_ROLES:
        raise Unprocessable("choose a role of the city", code="unknown_role", field="role")
    return role


@router.post("/console/c/{slug}/staff", response_class=HTMLResponse)
async def create_member(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Add a member with a role here; their temporary password is shown once."""
    return await _staff_action(request, session, staff, slug, "create")


@router.post("/console/c/{slug}/staff/{username}/reset", response_class=HTMLResponse)
async def reset_member(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, username: str
) -> Response:
    """A temporary password for the member, shown once, to change at their next sign-in."""
    return await _staff_action(request, session, staff, slug, "reset", username)


@router.post("/console/c/{slug}/staff/{username}/active", response_class=HTMLResponse)
async def activate_member(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, username: str
) -> Response:
    """Disable (sessions end at once) or enable the member's account."""
    return await _staff_action(request, session, staff, slug, "active", username)


@router.post("/console/c/{slug}/staff/{username}/remove-role", response_class=HTMLResponse)
async def remove_member_role(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, username: str
) -> Response:
    """Take one of the member's roles in this city away."""
    return await _staff_action(request, session, staff, slug, "remove-role", username)


# -- channels ------------------------------------------------------------------------------


async def _channels_page(
    request: Request, session: SessionDep, staff: StaffCaller, slug: str, *, status: int = 200,
    **context: Any,
) -> Response:  # fmt: skip
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    grants = await cities.get_all_grants(session=session, city_id=city.id, limit=100_000)
    offered: dict[int, list[Any]] = {}
    for _grant, channel, service in grants:
        offered.setdefault(channel.id, []).append(service)
    rows = [(c, offered.get(c.id, [])) for c in await identity.get_all_channels(session=session)]
    return _page(request, staff, "console/channels.html", status=status, city=city,
                 section="channels", rows=rows, scopes=list(security.SCOPES),
                 may_change=staff.is_operator, **{"error": None, **context})  # fmt: skip


@router.get("/console/c/{slug}/channels", response_class=HTMLResponse)
async def channels_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The channels: their scopes, status and the city's services each may offer."""
    return await _channels_page(request, session, staff, slug)


@router.post("/console/c/{slug}/channels/{channel_slug}", response_class=HTMLResponse)
async def change_channel(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, channel_slug: str
) -> Response:
    """The operator changes a channel's scopes and status (it serves every city)."""
    form = await request.form()
    fields = await _form(request, staff)
    await _city(session, staff, slug)
    require_staff_role(staff, None)
    try:
        found = await identity.get_channel_by_slug_or_raise(session=session, slug=channel_slug[:40])
        try:
            status = ChannelStatus(fields.get("status", ""))
        except ValueError:
            raise Unprocessable("choose a status", field="status") from None
        scopes = [str(s) for s in form.getlist("scopes")]
        outbound = OutboundPolicy.from_settings(request.app.state.settings)
        await channels.update(session=session, actor=staff.actor, channel=found, scopes=scopes,
                              status=status, outbound=outbound)  # fmt: skip
    except CityHubError as exc:
        await _undo(session, staff)
        return await _channels_page(
            request, session, staff, slug, status=exc.status, error=exc.code
        )
    return redirect(f"/console/c/{slug}/channels")


# -- jobs ----------------------------------------------------------------------------------


async def _jobs_page(
    request: Request, session: SessionDep, staff: StaffCaller, slug: str, *, status: int = 200,
    **context: Any,
) -> Response:  # fmt: skip
    city = await _city(session, staff, slug)
    shown = await jobs_admin.status_of(session=session, jobs=load_jobs(), city=city,
                                       zone=ZoneInfo(city.timezone), now=utcnow())  # fmt: skip
    return _page(request, staff, "console/jobs.html", status=status, city=city, section="jobs",
                 jobs=shown, is_admin=_is_admin(staff, city.id),
                 **{"error": None, **context})  # fmt: skip


@router.get("/console/c/{slug}/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The city's recurring jobs: schedule, last run and its outcome, next run."""
    return await _jobs_page(request, session, staff, slug)


@router.post("/console/c/{slug}/jobs/{job}", response_class=HTMLResponse)
async def change_job(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, job: str
) -> Response:
    """A city admin sets the city's schedule of a job, or switches it off or on."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    try:
        found = load_jobs().get_or_raise(job[:60])
        if not found.per_city:
            raise PageError(404, "job_not_found")
        await jobs_admin.configure(
            session=session, actor=staff.actor, job=found, city=city,
            cron=form.get("cron", "").strip()[:120] or None, enabled=form.get("enabled") == "1",
        )  # fmt: skip
    except CityHubError as exc:
        await _undo(session, staff)
        return await _jobs_page(request, session, staff, slug, status=exc.status, error=exc.code)
    return redirect(f"/console/c/{city.slug}/jobs")
