"""The city console: sign in and out, the staff member's home, a city's services and grants.

The console uses the API's session cookie. Every form that changes something carries a CSRF
token in the hidden field `csrf_token`: the session's token once signed in, and before that a
token kept in a short-lived cookie of its own (so nobody can sign a visitor in to another
account from a foreign page either).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import flows
from cityhub.identity import service as identity
from cityhub.identity.deps import (
    SESSION_COOKIE,
    StaffCaller,
    clear_session_cookie,
    set_session_cookie,
    staff_caller_for_token,
)
from cityhub.identity.enums import Role
from cityhub.platform.clients import client_address
from cityhub.platform.deps import DbDep, SessionDep, SettingsDep, ThrottleDep
from cityhub.platform.errors import TooManyRequests, Unauthorized
from cityhub.web.pages import PageError, SignInRequired, redirect, render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "cityhub_login_csrf"
LOGIN_CSRF_MAX_AGE = 3600
CSRF_FIELD = "csrf_token"
NO_STORE = {"Cache-Control": "no-store"}
MAX_ROWS = 1000  # a city's catalogue and grants fit on one page until the console pages them
# Beyond these, credentials cannot be right (the API's limits); answer as for wrong ones.
MAX_USERNAME, MAX_PASSWORD = 80, 200
PASSWORD_PAGE = "/console/password"
PASSWORD_CHANGE_PAGES = {PASSWORD_PAGE, "/console/sign-out"}  # all a reset member may use


async def _signed_in(request: Request, session: AsyncSession) -> StaffCaller | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    caller = await staff_caller_for_token(session=session, token=token)
    if caller is not None:
        request.state.caller = f"staff:{caller.staff.username}"
    return caller


class PasswordChangeRequired(Exception):
    """A member whose password was reset asked for another page: they go to the password form."""


async def console_staff(request: Request, session: SessionDep) -> StaffCaller:
    """The signed-in staff member; anyone else is sent to the sign-in form, and a member
    whose password was reset to the password form."""
    caller = await _signed_in(request, session)
    if caller is None:
        raise SignInRequired()
    if caller.staff.must_change_password and request.url.path not in PASSWORD_CHANGE_PAGES:
        raise PasswordChangeRequired()
    return caller


ConsoleStaff = Annotated[StaffCaller, Depends(console_staff)]


def _same(sent: object, expected: str | None) -> bool:
    return isinstance(sent, str) and bool(expected) and secrets.compare_digest(sent, str(expected))


def _sign_in_form(
    request: Request,
    *,
    csrf: str,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    retry_after: int | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "console/sign_in.html",
        status=status,
        headers=NO_STORE,
        csrf_token=csrf,
        error=error,
        username=username,
        retry_after=retry_after,
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Form realm="CityHub console"'
    return response


@router.get("/console", response_class=HTMLResponse)
async def sign_in_form(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """The sign-in form (the console home for someone already signed in)."""
    if await _signed_in(request, session) is not None:
        return redirect("/console/")
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _sign_in_form(request, csrf=csrf)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=LOGIN_CSRF_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
        path="/console",
    )
    return response


@router.post("/console/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request, session: SessionDep, db: DbDep, throttle: ThrottleDep, settings: SettingsDep
) -> Response:
    """Check the credentials; on success start a session and go to the console home. Wrong
    passwords are limited per username and per address, as in the API."""
    form = await request.form()
    csrf = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not _same(form.get(CSRF_FIELD), csrf):
        raise PageError(403, "csrf_failed")
    assert csrf is not None
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not username or not password:
        return _sign_in_form(request, csrf=csrf, status=400, error="missing", username=username)
    try:
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            raise Unauthorized("wrong username or password", code="invalid_credentials")
        token, _record, _staff = await flows.sign_in_staff(
            session=session,
            db=db,
            throttle=throttle,
            settings=settings,
            username=username,
            password=password,
            address=client_address(request),
        )
    except TooManyRequests as exc:
        refused = _sign_in_form(
            request,
            csrf=csrf,
            status=429,
            error="too_many",
            username=username[:MAX_USERNAME],
            retry_after=exc.extra["retry_after"],
        )
        refused.headers.update(exc.headers)
        return refused
    except Unauthorized:
        # The same words whatever was wrong: the form gives away no valid usernames.
        return _sign_in_form(
            request, csrf=csrf, status=401, error="invalid", username=username[:MAX_USERNAME]
        )
    response = redirect("/console/")
    set_session_cookie(response, token=token, settings=settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console", httponly=True, samesite="strict")
    return response


@router.post("/console/sign-out")
async def sign_out(request: Request, session: SessionDep, staff: ConsoleStaff) -> Response:
    """End the session (the form must carry the session's CSRF token)."""
    form = await request.form()
    if not _same(form.get(CSRF_FIELD), staff.session.csrf_token):
        raise PageError(403, "csrf_failed")
    await identity.end_session(session=session, session_id=staff.session.id)
    response = redirect("/console")
    clear_session_cookie(response)
    return response


@router.get("/console/", response_class=HTMLResponse)
async def console_home(request: Request, session: SessionDep, staff: ConsoleStaff) -> Response:
    """Who is signed in, their roles and the cities they work in (the operator: every city)."""
    ids = staff.city_ids()
    found = await cities.get_all_cities(session=session, city_ids=ids, after=None, limit=MAX_ROWS)
    by_id = {c.id: c for c in found}
    roles = [(r.role, by_id.get(r.city_id) if r.city_id else None) for r in staff.roles]
    return render(
        request,
        "console/home.html",
        headers=NO_STORE,
        staff=staff.staff,
        roles=roles,
        cities=found,
        is_operator=staff.is_operator,
        csrf_token=staff.session.csrf_token,
    )


@router.get("/console/c/{slug}", response_class=HTMLResponse)
async def console_city(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """A city's services and grants, read-only; another city's page does not exist here."""
    city = await cities.get_city_by_slug(session=session, slug=slug)
    if city is None or not staff.in_city(city.id):
        raise PageError(404, "city_not_found")
    services = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_ROWS)
    categories = {c.code: c for c in await cities.get_all_categories(session=session)}
    grants = await cities.get_all_grants(session=session, city_id=city.id, limit=MAX_ROWS)
    roles = [r.role for r in staff.roles if r.city_id in (None, city.id)]
    is_admin = staff.is_operator or staff.in_city(city.id, Role.CITY_ADMIN)
    channels = await identity.get_all_channels(session=session) if is_admin else []
    return render(
        request,
        "console/city.html",
        headers=NO_STORE,
        staff=staff.staff,
        city=city,
        roles=roles,
        services=services,
        categories=categories,
        grants=grants,
        is_admin=is_admin,
        channels=channels,
        csrf_token=staff.session.csrf_token,
    )
