"""Portal sign-in: a phone number, a one-time code by text message, a session cookie (the
identity verification that personal services need: verify.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.connectors.deps import HubDep
from cityhub.connectors.sms import SmsFailed, SmsGateway
from cityhub.identity.deps import VaultDep
from cityhub.identity.pii import Vault, mask_phone
from cityhub.platform.clients import client_address
from cityhub.platform.deps import SessionDep, SettingsDep, ThrottleDep
from cityhub.platform.errors import TooManyRequests, Unprocessable
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
    request: Request,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    next_: NextParam = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The phone number form (straight on for a resident already signed in); after a session
    ended, saying so."""
    target = safe_next(next_)
    if visitor is not None:
        return redirect(target)
    error = "session_expired" if reason == "session_expired" else None
    return page(request, settings, "portal/sign_in.html", next_url=target, error=error, phone="")


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
