"""The portal's identity verification, which personal services need: a city's population
registry asked through `identity.verification` (the API's use case), and a person the hub
already knows proven by the code sent to the phone on their record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.connectors.deps import HubDep
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.sms import SmsFailed
from cityhub.identity import audit, codes, linking, verification
from cityhub.identity.deps import VaultDep
from cityhub.identity.enums import IdentityLevel
from cityhub.identity.pii import Vault, normalize_id_number
from cityhub.identity.purposes import Purpose
from cityhub.platform.config import Settings
from cityhub.platform.deps import SessionDep, SettingsDep, ThrottleDep
from cityhub.platform.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unprocessable
from cityhub.platform.throttle import Throttle
from cityhub.platform.uow import keep
from cityhub.web import signin
from cityhub.web.pages import PageError, error_page, redirect, safe_next
from cityhub.web.portal.signin import NextParam
from cityhub.web.portal.visitor import (
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

router = APIRouter(include_in_schema=False)
LINK_COOKIE = "cityhub_link"  # which link request the visitor is proving: "<id>.<signature>"
VERIFY_PURPOSE = Purpose.VERIFICATION


def _link_value(vault: Vault, request_id: int) -> str:
    return f"{request_id}.{vault.lookup_hash('pending-link', str(request_id))[:32]}"


def _link_id(vault: Vault, value: str | None) -> int | None:
    if not value or "." not in value:
        return None
    raw = value.partition(".")[0]
    if not raw.isdigit() or _link_value(vault, int(raw)) != value:
        return None
    return int(raw)


async def _verify_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: Visitor,
    target: str,
    *,
    city: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    channel = await signin.get_portal_channel_or_raise(session=session)
    found = await verification.registry_cities(session=session, channel_id=channel.id)
    return page(
        request,
        settings,
        "portal/verify.html",
        status=status,
        visitor=visitor,
        next_url=target,
        error=error,
        registry_cities=found,
        chosen_city=city,
        demo=settings.env == "demo",
    )


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    next_: NextParam = None,
    city: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Verify identity through a city's population registry (name and identity number, with
    consent); shows the level reached so far."""
    target = safe_next(next_, "/me")
    if visitor.reaches(IdentityLevel.AUTHORITY_CHECKED):
        return redirect(target)
    return await _verify_page(request, session, settings, visitor, target, city=city)


@dataclass(frozen=True)
class _VerifyForm:
    """The verify form as sent: the claim, the city whose registry to ask, what is wrong."""

    name: str
    id_number: str
    city: str | None
    error: str | None


async def _read_verify_form(session: AsyncSession, form: dict[str, str]) -> _VerifyForm:
    """The form's fields, and the last of its checks that fails (none: it may be asked)."""
    city = form.get("city", "")[:40] or None
    name = form.get("name", "").strip()[:40]
    id_number, error = "", None
    try:
        id_number = normalize_id_number(form.get("id_number", ""))
    except ValueError:
        error = "invalid_id_number"
    if not name:
        error = "missing_name"
    if city is None:  # with one registry to choose from, that one
        portal = await signin.get_portal_channel_or_raise(session=session)
        offered = await verification.registry_cities(session=session, channel_id=portal.id)
        city = offered[0].slug if len(offered) == 1 else None
    if city is None:
        error = "city_required"
    if form.get("consent") != "yes":
        error = "consent_required"
    return _VerifyForm(name=name, id_number=id_number, city=city, error=error)


async def _verify_with_registry(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    throttle: Throttle,
    visitor: Visitor,
    sent: _VerifyForm,
) -> verification.Outcome:
    """The one verification use case, for the portal's own user, and its audit entry."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    outcome = await verification.verify(
        session=session,
        vault=vault,
        hub=hub,
        throttle=throttle,
        channel=channel,
        user_id=visitor.user_id,
        claim=verification.Claim(name=sent.name, id_number=sent.id_number),
        city_slug=sent.city,
        purpose=VERIFY_PURPOSE,
    )
    await audit.append(
        session=session,
        actor=audit.Actor(type="resident", id=str(visitor.resident.id), name="portal"),
        action="resident.verified",
        object_type="resident",
        object_id=visitor.resident.id,
        details={"level": outcome.resident.level.value, "link_requested": bool(outcome.link)},
    )
    return outcome


async def _link_code_page(
    request: Request,
    *,
    session: AsyncSession,
    settings: Settings,
    vault: Vault,
    hub: ConnectorHub,
    visitor: Visitor,
    target: str,
    link: linking.IssuedLink,
) -> Response:
    """Text the code to the phone on the person's record; the code form, with the cookie
    that names the link request."""
    try:
        demo_code = await verification.send_link_code(
            session=session, settings=settings, hub=hub, issued=link, app="the CityHub portal"
        )
    except SmsFailed:
        raise PageError(503, "sms_failed") from None
    response = page(
        request,
        settings,
        "portal/verify_code.html",
        visitor=visitor,
        next_url=target,
        masked_phone=link.request.phone_masked,
        demo_code=demo_code,
        error=None,
    )
    response.set_cookie(
        LINK_COOKIE,
        _link_value(vault, link.request.id),
        max_age=int(codes.CODE_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
        path="/verify",
    )
    return response


@router.post("/verify", response_class=HTMLResponse)
async def verify(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    throttle: ThrottleDep,
    hub: HubDep,
    visitor: SignedInVisitor,
) -> Response:
    """Check the identity with the registry by the same rules as a channel's verification; a
    person the hub already knows must prove it with the code sent to their record's phone."""
    form = await check_csrf(request)
    target = safe_next(form.get("next"), "/me")
    sent = await _read_verify_form(session, form)
    if sent.error is not None:
        return await _verify_page(
            request, session, settings, visitor, target, city=sent.city, error=sent.error,
            status=422,
        )  # fmt: skip
    try:
        outcome = await _verify_with_registry(
            session=session, vault=vault, hub=hub, throttle=throttle, visitor=visitor, sent=sent
        )
    except TooManyRequests as exc:
        return error_page(request, 429, exc.code, headers=exc.headers)
    except (Conflict, Unprocessable, Forbidden) as exc:
        code = "identity_mismatch" if isinstance(exc, Conflict) else exc.code
        return await _verify_page(
            request, session, settings, visitor, target, city=sent.city, error=code, status=422
        )
    if outcome.link is None:
        return redirect(target)
    return await _link_code_page(
        request, session=session, settings=settings, vault=vault, hub=hub, visitor=visitor,
        target=target, link=outcome.link,
    )  # fmt: skip


@router.post("/verify/code", response_class=HTMLResponse)
async def verify_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
) -> Response:
    """Check the code sent to the person's phone: the portal account is linked to them."""
    form = await check_csrf(request)
    target = safe_next(form.get("next"), "/me")
    request_id = _link_id(vault, request.cookies.get(LINK_COOKIE))
    if request_id is None:
        return redirect("/verify?next=" + target)
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        link = await linking.get_request_or_raise(
            session=session, request_id=request_id, channel_id=channel.id, user_id=visitor.user_id
        )
        await linking.confirm_with_code(
            session=session, vault=vault, request=link, code=form.get("code", "")[:12]
        )
    except (Unprocessable, Conflict, NotFound) as exc:
        await keep(session)  # the wrong try counts
        row = await linking.get_request(session=session, request_id=request_id)
        return page(
            request,
            settings,
            "portal/verify_code.html",
            status=422,
            visitor=visitor,
            next_url=target,
            masked_phone=row.phone_masked if row else None,
            demo_code=None,
            error=exc.code,
        )
    response = redirect(target)
    response.delete_cookie(LINK_COOKIE, path="/verify", httponly=True, samesite="strict")
    return response
