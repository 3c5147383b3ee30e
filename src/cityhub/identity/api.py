"""Routes of tokens, console sessions, channels and the audit log (residents, their links and
consent: residents_api.py)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from cityhub.cities import service as cities
from cityhub.identity import audit, flows, security
from cityhub.identity import service as identity
from cityhub.identity.deps import (
    CurrentChannel,
    CurrentStaff,
    clear_session_cookie,
    require_staff_role,
    set_session_cookie,
)
from cityhub.identity.models import Role, StaffRole, StaffUser
from cityhub.identity.schemas import (
    AuditRead,
    ChannelRead,
    StaffLogin,
    StaffRead,
    StaffSessionRead,
    TokenRead,
    staff_read,
)
from cityhub.platform import jsonbody, ratelimit
from cityhub.platform.clients import client_address
from cityhub.platform.deps import DbDep, SessionDep, SettingsDep, ThrottleDep
from cityhub.platform.errors import BadRequest, CityHubError, Unauthorized
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1", tags=["identity"])


async def _token_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = jsonbody.loads(await request.body())
        except ValueError:  # also a body that is not UTF-8
            raise BadRequest(
                "the body is not valid JSON", code="malformed_json", field="body"
            ) from None
        if not isinstance(data, dict):
            raise BadRequest("send a JSON object", field="body")
        # A JSON null is an absent field, not the text "None".
        return {k: str(v) for k, v in data.items() if v is not None}
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", code="invalid_client") from None
    return client_id, secret


TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many wrong secrets from this client id or address: wait the "
        "`Retry-After` seconds (code `too_many_attempts`)",
        "content": {"application/problem+json": {}},
    }
}


# RFC 6749 5.2: the `error` an OAuth2 client library reads, for each of our codes.
OAUTH_ERRORS = {
    "invalid_client": "invalid_client",
    "unsupported_grant_type": "unsupported_grant_type",
    "invalid_scope": "invalid_scope",
    "too_many_attempts": "temporarily_unavailable",
    "throttle_unavailable": "temporarily_unavailable",
    "overloaded": "temporarily_unavailable",
    "rate_limited": "temporarily_unavailable",
}
TOKEN_FORM = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "title": "TokenRequest",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "client_id": {"type": "string", "description": "or send HTTP Basic"},
                    "client_secret": {"type": "string", "description": "or send HTTP Basic"},
                    "scope": {
                        "type": "string",
                        "description": "space-separated; without it, every allowed scope",
                    },
                },
            },
            "example": {
                "grant_type": "client_credentials",
                "client_id": "ch_paylink",
                "client_secret": "...",
                "scope": "catalogue:read payments:write",
            },
        }
    },
}


def _as_oauth_error(exc: CityHubError) -> CityHubError:
    """The problem with RFC 6749's `error` and `error_description` beside it, at the status
    the RFC gives: 401 with `WWW-Authenticate` for the client, 400 for the rest."""
    error = OAUTH_ERRORS.get(exc.code, "invalid_request")
    if error == "invalid_client":
        exc.status = 401
        exc.headers.setdefault("WWW-Authenticate", 'Basic realm="cityhub", error="invalid_client"')
    elif error != "temporarily_unavailable":
        exc.status = 400
    exc.extra.setdefault("error", error)
    exc.extra.setdefault("error_description", exc.detail or exc.title)
    return exc


# No request transaction here: the secret is checked with none open (see identity/flows.py).
@router.post(
    "/oauth/token",
    operation_id="createToken",
    summary="Get an access token (client credentials)",
    response_model=TokenRead,
    tags=["oauth"],
    responses=TOO_MANY,
    openapi_extra=route_meta(
        problems=[400, 401, 429], problem_schema="OAuthProblem", requestBody=TOKEN_FORM
    ),
)
async def token(
    request: Request, db: DbDep, throttle: ThrottleDep, settings: SettingsDep
) -> TokenRead:
    """OAuth2 client credentials (RFC 6749 4.4): form fields or HTTP Basic for the client.
    Wrong secrets are limited per client id and per address (429 with `Retry-After`).
    Errors carry RFC 6749's `error` and `error_description` beside the problem's fields."""
    try:
        return await _issue_token(request, db, throttle, settings)
    except CityHubError as exc:
        raise _as_oauth_error(exc) from None


async def _issue_token(
    request: Request, db: DbDep, throttle: ThrottleDep, settings: SettingsDep
) -> TokenRead:
    form = await _token_form(request)
    if form.get("grant_type") != "client_credentials":
        raise BadRequest(
            "grant_type must be client_credentials",
            code="unsupported_grant_type",
            field="grant_type",
        )
    credentials = _basic_auth(request) or (form.get("client_id", ""), form.get("client_secret", ""))
    limited = credentials[0] or client_address(request)
    await ratelimit.of(request).hit(request, "token", limited[:128])
    if not all(credentials):
        raise Unauthorized("send client_id and client_secret", code="invalid_client")
    channel = await flows.authenticate_channel(
        db=db,
        throttle=throttle,
        settings=settings,
        client_id=credentials[0],
        client_secret=credentials[1],
        address=client_address(request),
    )
    scopes = identity.grantable_scopes(channel, form.get("scope"))
    access_token, ttl = security.issue_channel_token(
        settings=settings, channel_id=channel.id, scopes=scopes, mode=channel.mode
    )
    return TokenRead(
        access_token=access_token,
        expires_in=ttl,
        scope=" ".join(sorted(scopes)),
        mode=channel.mode,
    )


async def _staff_read(
    session: SessionDep, staff: StaffUser, roles: Sequence[StaffRole]
) -> StaffRead:
    city_ids = {r.city_id for r in roles if r.city_id}
    found = await cities.get_all_cities(session=session, city_ids=city_ids, after=None, limit=1000)
    slugs = {c.id: c.slug for c in found}
    pairs = [(r, slugs.get(r.city_id) if r.city_id else None) for r in roles]
    return staff_read(staff.username, staff.display_name, pairs)


@router.post(
    "/staff/session",
    operation_id="signIn",
    summary="Sign in to the console",
    response_model=StaffSessionRead,
    tags=["staff"],
    responses=TOO_MANY,
)
async def sign_in(
    request: Request,
    session: SessionDep,
    db: DbDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    login: StaffLogin,
    response: Response,
) -> StaffSessionRead:
    """Sign in to the console: sets the session cookie, answers the CSRF token to send back.
    Wrong passwords are limited per username and per address (429 with `Retry-After`)."""
    token_value, record, staff = await flows.sign_in_staff(
        session=session,
        db=db,
        throttle=throttle,
        settings=settings,
        username=login.username,
        password=login.password,
        address=client_address(request),
    )
    set_session_cookie(response, token=token_value, settings=settings)
    roles = await identity.roles_of(session=session, staff_id=staff.id)
    read = await _staff_read(session, staff, roles)
    return StaffSessionRead(
        staff=read,
        csrf_token=record.csrf_token,
        expires_at=record.expires_at,
        password_change_required=staff.must_change_password,
    )


@router.delete(
    "/staff/session",
    operation_id="signOut",
    summary="Sign out of the console",
    status_code=204,
    tags=["staff"],
)
async def sign_out(session: SessionDep, staff: CurrentStaff) -> Response:
    """Sign out of the console."""
    await identity.end_session(session=session, session_id=staff.session.id)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get(
    "/staff/me",
    operation_id="getMe",
    summary="The signed-in staff member",
    response_model=StaffRead,
    tags=["staff"],
)
async def me(session: SessionDep, staff: CurrentStaff) -> StaffRead:
    """The signed-in staff member and their roles."""
    return await _staff_read(session, staff.staff, staff.roles)


@router.get(
    "/channel",
    operation_id="getOwnChannel",
    summary="The calling channel",
    response_model=ChannelRead,
    tags=["channels"],
)
async def own_channel(session: SessionDep, caller: CurrentChannel) -> ChannelRead:
    """The calling channel and the cities it has grants in."""
    ids = await cities.granted_city_ids(session=session, channel_id=caller.channel.id)
    found = await cities.get_all_cities(session=session, city_ids=ids, after=None, limit=1000)
    return ChannelRead.of(caller.channel, [c.slug for c in found])


@router.get(
    "/channels",
    operation_id="listChannels",
    summary="List channels",
    response_model=Page[ChannelRead],
    tags=["channels"],
)
async def list_channels(
    session: SessionDep, staff: CurrentStaff, page: PageDep
) -> Page[ChannelRead]:
    """Every channel (staff: needed to grant services)."""
    # A city admin grants services to channels, so must see them; the operator sees all.
    if staff.city_ids(Role.CITY_ADMIN, Role.AUDITOR) == set():
        require_staff_role(staff, None)
    return page.slice(
        [ChannelRead.of(c, []) for c in await identity.get_all_channels(session=session)],
        key=lambda x: x.slug,
    )


@router.get(
    "/audit",
    operation_id="listAuditEntries",
    summary="List audit log entries",
    response_model=Page[AuditRead],
    tags=["audit"],
)
async def list_audit(
    session: SessionDep,
    staff: CurrentStaff,
    page: PageDep,
    city: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    actor: Annotated[str | None, Query(max_length=80)] = None,
) -> Page[AuditRead]:
    """The audit log, newest first: an auditor or admin sees their cities, the operator all."""
    allowed = staff.city_ids(Role.AUDITOR, Role.CITY_ADMIN)
    city_ids: list[int] | None = None if allowed is None else sorted(allowed)
    if city:
        found = await cities.get_city_by_slug(session=session, slug=city)
        if found is None or (allowed is not None and found.id not in allowed):
            city_ids = []
        else:
            city_ids = [found.id]
    rows = await audit.list_entries(
        session=session,
        city_ids=city_ids,
        action=action,
        actor_id=actor,
        before_id=page.after,
        limit=page.limit,
    )
    return page.page([AuditRead.of(e) for e in rows], rows[-1].id if rows else None)
