"""Portal sign-in: a phone number, a one-time code by text message, a session cookie; and the
identity verification that personal services need."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.connectors.deps import HubDep
from cityhub.connectors.sms import SmsFailed, SmsGateway
from cityhub.identity import audit, residents
from cityhub.identity.pii import Vault, mask_phone, normalize_id_number
from cityhub.platform.clients import client_address
from cityhub.platform.deps import SessionDep, SettingsDep, ThrottleDep, VaultDep
from cityhub.platform.errors import Conflict, TooManyRequests, Unprocessable
from cityhub.platform.uow import between_transactions, keep
from cityhub.web import signin
from cityhub.web.pages import PageError, error_page, redirect, safe_next
from cityhub.web.portal.visitor import (
    RESIDENT_COOKIE,
    OptionalVisitor,
    SignedInVisitor,
    check_csrf,
    page,
)

router = APIRouter(include_in_schema=False)
PENDING_COOKIE = "cityhub_sign_in"  # which code the visitor is entering: "<id>.<signature>"
NextParam = Annotated[str | None, Query(alias="next", max_length=500)]


def _pending_value(vault: Vault, code_id: int) -> str:
    return f"{code_id}.{vault.lookup_hash('pending-sign-in', str(code_id))[:32]}"


def _pending_id(vault: Vault, value: str | None) -> int | None:
    if not value or "." not in value:
        return None
    raw, _, _sig = value.partition(".")
    if not raw.isdigit() or _pending_value(vault, int(raw)) != value:
        return None
    return int(raw)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(
    request: Request, settings: SettingsDep, visitor: OptionalVisitor, next_: NextParam = None
) -> Response:
    """The phone number form (straight on for a resident already signed in)."""
    target = safe_next(next_)
    if visitor is not None:
        return redirect(target)
    return page(request, settings, "portal/sign_in.html", next_url=target, error=None, phone="")


@router.post("/sign-in/code", response_class=HTMLResponse)
async def send_code(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    throttle: ThrottleDep,
    hub: HubDep,
) -> Response:
    """Send a code to the phone; the code form (with the code itself in demo mode)."""
    form = await check_csrf(request)
    target = safe_next(form.get("next"))
    try:
        issued = await signin.issue_code(
            session=session,
            vault=vault,
            throttle=throttle,
            phone=form.get("phone", ""),
            client=client_address(request),
        )
    except Unprocessable:
        return page(
            request,
            settings,
            "portal/sign_in.html",
            status=422,
            next_url=target,
            error="invalid_phone",
            phone="",
        )
    except TooManyRequests as exc:
        return error_page(request, 429, exc.code, headers=exc.headers)
    text = f"CityHub sign-in code {issued.code}. It works for 5 minutes. Never share it."
    try:
        async with between_transactions(session):  # the code is stored before it is sent
            await SmsGateway.from_settings(settings).send(
                hub.client(), issued.phone, text, ref=f"sign-in-{issued.id}"
            )
    except SmsFailed:
        raise PageError(503, "sms_failed") from None
    response = page(
        request,
        settings,
        "portal/sign_in_code.html",
        next_url=target,
        masked_phone=issued.masked_phone,
        demo_code=issued.code if settings.env == "demo" else None,
        error=None,
    )
    response.set_cookie(
        PENDING_COOKIE,
        _pending_value(vault, issued.id),
        max_age=int(signin.CODE_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=settings.is_production,
        path="/sign-in",
    )
    return response


@router.post("/sign-in/verify", response_class=HTMLResponse)
async def check_code(
    request: Request, session: SessionDep, settings: SettingsDep, vault: VaultDep
) -> Response:
    """Check the code: a session and back to where the resident was going, or the form again."""
    form = await check_csrf(request)
    target = safe_next(form.get("next"))
    code_id = _pending_id(vault, request.cookies.get(PENDING_COOKIE))
    if code_id is None:
        return redirect("/sign-in?next=" + target)
    try:
        signed_in = await signin.sign_in(
            session=session, vault=vault, code_id=code_id, code=form.get("code", "")[:12]
        )
    except Unprocessable as exc:
        await keep(session)  # the wrong try counts
        row = await signin.get_code(session=session, code_id=code_id)
        masked = mask_phone(vault.decrypt(row.phone_enc)) if row else ""
        return page(
            request,
            settings,
            "portal/sign_in_code.html",
            status=422,
            next_url=target,
            masked_phone=masked,
            demo_code=None,
            error=exc.code,
        )
    response = redirect(target)
    response.set_cookie(
        RESIDENT_COOKIE,
        signed_in.token,
        max_age=int(signin.SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.is_production,
        path="/",
    )
    response.delete_cookie(PENDING_COOKIE, path="/sign-in", httponly=True, samesite="strict")
    return response


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, visitor: SignedInVisitor) -> Response:
    """End the resident's session."""
    await check_csrf(request)
    await signin.end_session(session=session, session_id=visitor.session.id)
    response = redirect("/")
    response.delete_cookie(RESIDENT_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/me", response_class=HTMLResponse)
async def my_account(request: Request, settings: SettingsDep, visitor: SignedInVisitor) -> Response:
    """The resident's account: masked phone and identity, verified or not."""
    return page(request, settings, "portal/me.html", visitor=visitor)


@router.get("/verify", response_class=HTMLResponse)
async def verify_form(
    request: Request, settings: SettingsDep, visitor: SignedInVisitor, next_: NextParam = None
) -> Response:
    """Verify identity (name and identity number, with consent) for personal services."""
    target = safe_next(next_, "/me")
    if visitor.verified:
        return redirect(target)
    return page(
        request, settings, "portal/verify.html", visitor=visitor, next_url=target, error=None
    )


@router.post("/verify", response_class=HTMLResponse)
async def verify(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
) -> Response:
    """Check and record the identity through the same rules as a channel's verification."""
    form = await check_csrf(request)
    target = safe_next(form.get("next"), "/me")
    name = form.get("name", "").strip()[:40]
    error = None
    try:
        id_number = normalize_id_number(form.get("id_number", ""))
    except ValueError:
        error = "invalid_id_number"
    if not name:
        error = "missing_name"
    if form.get("consent") != "yes":
        error = "consent_required"
    if error is None:
        channel = await signin.get_portal_channel_or_raise(session=session)
        found = await residents.get_for_channel_or_raise(
            session=session, channel_id=channel.id, user_id=visitor.user_id
        )
        try:
            await residents.verify_identity(
                session=session,
                vault=vault,
                channel=channel,
                found=found,
                name=name,
                id_number=id_number,
                purpose="verify my identity on the CityHub portal",
            )
        except Conflict:
            error = "identity_mismatch"
        else:
            await audit.append(
                session=session,
                actor=audit.Actor(type="resident", id=str(found.resident.id), name="portal"),
                action="resident.verified",
                object_type="resident",
                object_id=found.resident.id,
            )
            return redirect(target)
    return page(
        request,
        settings,
        "portal/verify.html",
        status=422,
        visitor=visitor,
        next_url=target,
        error=error,
    )
