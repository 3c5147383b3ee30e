"""The request edge of the identity domain: who is calling (a channel's bearer token, a staff
member's session cookie), the console cookie, the personal-data vault, and the checks on what a
caller may reach (roles, a provider's own objects)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.enums import ChannelStatus, Role
from cityhub.identity.models import Channel, StaffRole, StaffSession, StaffUser
from cityhub.identity.pii import Vault
from cityhub.identity.security import ChannelToken, decode_channel_token
from cityhub.platform import deps, ratelimit, sandbox
from cityhub.platform.config import Settings
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SAFE_METHODS, SessionDep, SettingsDep
from cityhub.platform.errors import Conflict, Forbidden, Unauthorized

if TYPE_CHECKING:
    from cityhub.cities.models import Service

SESSION_COOKIE = "cityhub_session"
CSRF_HEADER = "X-CSRF-Token"
# What a member whose password was reset may still do: see who they are, choose a new
# password, sign out.
PASSWORD_CHANGE_PATHS = {"/v1/staff/me", "/v1/staff/me/password", "/v1/staff/session"}


async def get_vault(request: Request) -> Vault:
    """The app's personal-data vault."""
    vault: Vault = request.app.state.vault
    return vault


VaultDep = Annotated[Vault, Depends(get_vault)]


class ProviderRefused(deps.RecordedRefusal):
    """Provider staff reached for another provider's object: it does not exist for them
    (404, as another city's object), and the attempt is audited after the rollback."""

    def __init__(
        self, detail: str, *, code: str, actor: audit.Actor, city_id: int, record: dict[str, Any]
    ) -> None:
        super().__init__(detail, code=code)
        self.actor = actor
        self.city_id = city_id
        self.record = record

    async def record_in(self, session: AsyncSession) -> None:
        """The refused attempt on the audit log."""
        await audit.append(
            session=session,
            actor=self.actor,
            action="staff.provider_refused",
            object_type=str(self.record.get("object_type", "object")),
            object_id=str(self.record.get("object_id", "")),
            city_id=self.city_id,
            details={**self.record, "status": self.status, "code": self.code},
        )


_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class ChannelCaller:
    """A channel calling with a valid bearer token."""

    channel: Channel
    scopes: frozenset[str]

    @property
    def actor(self) -> audit.Actor:
        """The channel as an audit actor."""
        return audit.Actor(
            type="channel", id=self.channel.slug, name=self.channel.name, names=self.channel.names
        )

    @property
    def key(self) -> str:
        """A stable name for idempotency and rate limits."""
        return f"channel:{self.channel.id}"

    @property
    def mode(self) -> str:
        """`live`, or `test` for sandbox credentials."""
        return self.channel.mode

    def require(self, scope: str) -> None:
        """Forbidden unless the token carries the scope."""
        if scope not in self.scopes:
            raise Forbidden(f"the token lacks the scope {scope!r}", code="insufficient_scope")


@dataclass(frozen=True)
class StaffCaller:
    """A staff member with a live console session."""

    staff: StaffUser
    roles: tuple[StaffRole, ...]
    session: StaffSession

    @property
    def actor(self) -> audit.Actor:
        """The staff member as an audit actor."""
        return audit.Actor(type="staff", id=self.staff.username, name=self.staff.display_name)

    @property
    def key(self) -> str:
        """A stable name for idempotency and rate limits."""
        return f"staff:{self.staff.id}"

    @property
    def is_operator(self) -> bool:
        """Whether the staff member runs the hub (every city)."""
        return any(r.role == Role.OPERATOR for r in self.roles)

    def city_ids(self, *roles: Role) -> set[int] | None:
        """Cities where the staff member has one of the roles (any role if none is named);
        None means every city (the operator)."""
        if self.is_operator:
            return None
        return {r.city_id for r in self.roles if r.city_id and (not roles or r.role in roles)}

    def in_city(self, city_id: int, *roles: Role) -> bool:
        """Whether the staff member holds one of the roles in the city."""
        ids = self.city_ids(*roles)
        return ids is None or city_id in ids

    def providers_in(self, city_id: int) -> frozenset[str] | None:
        """The providers whose objects the member sees in the city: None for every one (the
        operator, the city's admins and auditors), else their provider_staff roles'."""
        if self.in_city(city_id, Role.CITY_ADMIN, Role.AUDITOR):
            return None
        return frozenset(
            r.provider
            for r in self.roles
            if r.city_id == city_id and r.role == Role.PROVIDER_STAFF and r.provider
        )


Caller = ChannelCaller | StaffCaller


_CHANNEL_CALLER = "cityhub_channel_caller"
_STAFF_CALLER = "cityhub_staff_caller"


async def _channel_caller(
    request: Request, session: AsyncSession, settings: Settings
) -> ChannelCaller | None:
    """The bearer token's channel, checked once per request however many dependencies ask
    (`CurrentChannel` and `CityDep` both do)."""
    if _CHANNEL_CALLER in request.scope:
        known: ChannelCaller | None = request.scope[_CHANNEL_CALLER]
        return known
    caller = await _check_bearer(request, session, settings)
    request.scope[_CHANNEL_CALLER] = caller
    return caller


async def _check_bearer(
    request: Request, session: AsyncSession, settings: Settings
) -> ChannelCaller | None:
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    if credentials is None:
        return None
    token = _verified(settings, credentials.credentials)
    channel = await identity.get_channel(session=session, channel_id=token.channel_id)
    if channel is not None and channel.live_channel_id is not None:
        # Test credentials work while their live channel does.
        live = await identity.get_channel(session=session, channel_id=channel.live_channel_id)
        if live is None or live.status != ChannelStatus.ACTIVE:
            channel = None
    if channel is None or channel.status != ChannelStatus.ACTIVE:
        raise Unauthorized(
            "this client is no longer active",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer realm="cityhub", error="invalid_token"'},
        )
    request.state.caller = f"channel:{channel.slug}"
    # The whole request runs in the channel's mode: test credentials reach only the sandbox.
    sandbox.use(channel.mode)
    setattr(request.state, sandbox.STATE_KEY, channel.mode)  # the answer's CityHub-Mode
    await ratelimit.of(request).hit(request, "default", f"channel:{channel.id}")
    # A scope taken from the channel since the token was issued stops working at once.
    allowed = frozenset(channel.scopes.split())
    return ChannelCaller(channel=channel, scopes=token.scopes & allowed)


# Tokens whose signature was verified, by (signing key, token): a channel sends the same
# token on every request until it expires, and verifying it again is a third of the check.
_VERIFIED: dict[tuple[str, str], ChannelToken] = {}
_VERIFIED_MAX = 10_000


def _verified(settings: Settings, token: str) -> ChannelToken:
    """The token's claims: verified once, then remembered until it expires (on the hub's
    clock, like the first check)."""
    key = (settings.secret_key, token)
    found = _VERIFIED.get(key)
    if found is not None and found.expires_at.timestamp() > utcnow().timestamp():
        return found
    _VERIFIED.pop(key, None)
    found = decode_channel_token(settings=settings, token=token)  # raises when expired
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[key] = found
    return found


async def _staff_caller(request: Request, session: AsyncSession) -> StaffCaller | None:
    """The console session's staff member, checked once per request however many
    dependencies ask."""
    if _STAFF_CALLER in request.scope:
        known: StaffCaller | None = request.scope[_STAFF_CALLER]
        return known
    caller = await _check_staff(request, session)
    request.scope[_STAFF_CALLER] = caller
    return caller


async def _check_staff(request: Request, session: AsyncSession) -> StaffCaller | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    caller = await staff_caller_for_token(session=session, token=token)
    if caller is None:
        raise Unauthorized("your session has ended; sign in again", code="session_expired")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), caller.session.csrf_token.encode()):
            raise Forbidden(
                f"missing or wrong {CSRF_HEADER} header", code="csrf_failed", field=CSRF_HEADER
            )
    request.state.caller = f"staff:{caller.staff.username}"
    if caller.staff.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise Forbidden(
            "your password was reset: choose a new one first (POST /v1/staff/me/password)",
            code="password_change_required",
        )
    return caller


async def staff_caller_for_token(*, session: AsyncSession, token: str) -> StaffCaller | None:
    """The staff member of a live console session token, with their roles (API and pages)."""
    found = await identity.get_session_by_token(session=session, token=token)
    if found is None:
        return None
    staff_session, staff = found
    roles = await identity.roles_of(session=session, staff_id=staff.id)
    return StaffCaller(staff=staff, roles=tuple(roles), session=staff_session)


def set_session_cookie(response: Response, *, token: str, settings: Settings) -> None:
    """Hand the console session token to the browser (the API and the console pages alike)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    """Tell the browser to forget the console session token."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="cityhub"'}


async def current_channel(
    request: Request, session: SessionDep, settings: SettingsDep
) -> ChannelCaller:
    """The calling channel, or 401."""
    caller = await _channel_caller(request, session, settings)
    if caller is None:
        raise Unauthorized("send a bearer token from /v1/oauth/token", headers=_UNAUTHORIZED)
    return caller


async def current_staff(request: Request, session: SessionDep) -> StaffCaller:
    """The signed-in staff member, or 401."""
    caller = await _staff_caller(request, session)
    if caller is None:
        raise Unauthorized("sign in first", code="not_signed_in")
    return caller


async def current_caller(request: Request, session: SessionDep, settings: SettingsDep) -> Caller:
    """A channel (bearer token) or a staff member (session cookie), or 401."""
    caller: Caller | None = await _channel_caller(request, session, settings)
    if caller is None:
        caller = await _staff_caller(request, session)
    if caller is None:
        raise Unauthorized("send a bearer token or sign in to the console", headers=_UNAUTHORIZED)
    return caller


CurrentChannel = Annotated[ChannelCaller, Depends(current_channel)]


async def refuse_sandbox_writes(
    request: Request, session: SessionDep, settings: SettingsDep
) -> None:
    """Test credentials may read, not write, where the sandbox cannot yet keep what they write
    apart from live data (a real slot, a real draw, a report city staff would handle)."""
    if request.method in SAFE_METHODS:
        return
    caller = await _channel_caller(request, session, settings)
    if caller is not None and caller.mode == sandbox.TEST:
        raise Conflict(
            "the sandbox does not offer this yet: test credentials may only read here "
            "(docs/sandbox.md)",
            code="sandbox_unavailable",
        )


# On a router's `dependencies=`: its writes are refused to test credentials.
LiveWritesOnly = Depends(refuse_sandbox_writes)


async def expensive_call(request: Request, caller: CurrentChannel) -> None:
    """Count the call against the channel's tighter `expensive` limit too."""
    await ratelimit.of(request).hit(request, "expensive", caller.key)


# On a route's `dependencies=`: an operation that costs the hub or a provider more.
Expensive = Depends(expensive_call)
CurrentStaff = Annotated[StaffCaller, Depends(current_staff)]
CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def caller_key(request: Request, session: AsyncSession, settings: Settings) -> str:
    """The caller's stable name: what `platform.deps.CallerKey` answers once installed (the
    caller is checked once per request however many dependencies ask)."""
    return (await current_caller(request, session, settings)).key


def install(app: FastAPI) -> None:
    """Answer the platform's `CallerKey` (idempotency keys are the caller's) with the caller of
    the request, so the platform names no caller type."""
    app.state.caller_key = caller_key


def require_provider(
    caller: Caller,
    service: Service | None,
    *,
    city_id: int,
    object_type: str,
    object_id: str,
    code: str,
) -> None:
    """Provider staff reach only their own provider's objects (`StaffCaller.providers_in`;
    `service` None: the city's own, not theirs); another provider's object answers 404 `code`
    and the attempt is audited. The operator, city admins and auditors pass (what they may
    do is `require_staff_role`'s), and so do channels: their own checks apply."""
    if not isinstance(caller, StaffCaller):
        return
    providers = caller.providers_in(city_id)
    if providers is None or (service is not None and service.provider in providers):
        return
    raise ProviderRefused(
        f"no {object_type} {object_id!r} among your provider's",
        code=code,
        actor=caller.actor,
        city_id=city_id,
        record={
            "object_type": object_type,
            "object_id": object_id,
            "service": service.code if service else None,
            "provider": service.provider if service else None,
        },
    )


def provider_guard(
    caller: Caller, *, city_id: int, object_type: str, code: str
) -> Callable[[Service | None], None]:
    """`require_provider` for a service a domain function resolves itself (a CSV's hospital,
    a notice account's biller)."""

    def guard(service: Service | None) -> None:
        require_provider(
            caller,
            service,
            city_id=city_id,
            object_type=object_type,
            object_id=service.code if service else "city",
            code=code,
        )

    return guard


def require_staff_role(caller: StaffCaller, city_id: int | None, *roles: Role) -> None:
    """Forbidden unless the staff member holds one of the roles in the city (or is operator)."""
    if caller.is_operator:
        return
    if city_id is None or not caller.in_city(city_id, *roles):
        wanted = " or ".join(r.value for r in roles) or "operator"
        raise Forbidden(f"this needs the {wanted} role", code="role_required")
