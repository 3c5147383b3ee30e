"""Composing and sending a notice in the city console, and one notice's figures.

Compose: choose an account and one of its templates, fill in its typed placeholders, pick a
topic (or all followers) and whether it is urgent. Preview renders the template in every
language (`notices.service.preview`: a bad value is shown on the form, 422). Send is
`notices.sending.create`, the same function the API's `POST /v1/cities/{city}/notices` calls,
with the staff member as the actor; only city admins and provider staff may send (the API's
rule), others see the figures only.

A preview's send form carries a token; the notice is kept with `dedupe_key = console:<token>`
(unique in the city), so pressing Send twice sends one notice.
"""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity.deps import StaffCaller, provider_guard, require_staff_role
from cityhub.identity.enums import Role
from cityhub.notices import sending
from cityhub.notices import service as notices
from cityhub.notices.render import in_language
from cityhub.notices.schemas import NoticeCreate
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound, Unprocessable
from cityhub.web.console.home import NO_STORE, ConsoleStaff, _same
from cityhub.web.console.pages import _city, parties
from cityhub.web.pages import PageError, language, redirect, render

if TYPE_CHECKING:
    from cityhub.notices.models import GovAccount, NoticeTemplate

router = APIRouter(include_in_schema=False)
SENDERS = (Role.CITY_ADMIN, Role.PROVIDER_STAFF)  # as the API's send route
Code = Annotated[str, Query(max_length=60)]
DEDUPE_PREFIX = "console:"


def may_send(staff: StaffCaller, city_id: int) -> bool:
    """Whether the staff member may send the city's notices."""
    return staff.is_operator or staff.in_city(city_id, *SENDERS)


async def _form(request: Request, staff: StaffCaller) -> dict[str, str]:
    """The posted form, if it carries the session's CSRF token (else a 403 page)."""
    form = await request.form()
    if not _same(form.get("csrf_token"), staff.session.csrf_token):
        raise PageError(403, "csrf_failed")
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _values(template: NoticeTemplate, form: dict[str, str]) -> dict[str, Any]:
    """The placeholders' values from the form, typed as the template says (a value that does
    not parse is passed on as typed: the template's check names it)."""
    values: dict[str, Any] = {}
    for name, kind in template.placeholders.items():
        raw = form.get(f"v_{name}", "").strip()
        if kind == "int" and raw.lstrip("-").isdigit() and len(raw) < 16:
            values[name] = int(raw)
        elif kind == "money":
            try:
                fen = Decimal(raw) * 100
                values[name] = int(fen) if fen == fen.to_integral_value() else raw
            except InvalidOperation:
                values[name] = raw
        else:
            values[name] = raw
    return values


async def _choice(
    session: AsyncSession, city_id: int, account_code: str, template_code: str
) -> tuple[list[GovAccount], GovAccount | None, list[NoticeTemplate], NoticeTemplate | None]:
    accounts = await notices.list_accounts(session=session, city_id=city_id)
    account = next((a for a in accounts if a.code == account_code), None)
    if account is None and len(accounts) == 1:
        account = accounts[0]
    templates = await notices.list_templates(session=session, account=account) if account else []
    template = next((t for t in templates if t.code == template_code), None)
    if template is None and len(templates) == 1:
        template = templates[0]
    return accounts, account, templates, template


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
        section="notices",
        **context,
    )


async def _compose(
    request: Request,
    session: AsyncSession,
    staff: StaffCaller,
    slug: str,
    form: dict[str, str],
    *,
    preview: bool,
) -> Response:
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *SENDERS)
    accounts, account, templates, template = await _choice(
        session, city.id, form.get("account", "")[:60], form.get("template", "")[:60]
    )
    topics = (
        await notices.topics_of(session=session, city_id=city.id, account_id=account.id)
        if account
        else []
    )
    shown: dict[str, dict[str, str]] | None = None
    error: Unprocessable | None = None
    status = 200
    if preview and template is not None:
        try:
            shown = notices.preview(template, _values(template, form))
        except Unprocessable as exc:
            error, status = exc, 422
    return _page(
        request,
        staff,
        "console/notice_compose.html",
        status=status,
        city=city,
        accounts=accounts,
        account=account,
        templates=templates,
        chosen=template,
        topics=topics,
        form=form,
        preview=shown,
        error=error,
        send_token=secrets.token_urlsafe(16) if shown else "",
    )


@router.get("/console/c/{slug}/notices/new", response_class=HTMLResponse)
async def compose(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    account: Code = "",
    template: Code = "",
) -> Response:
    """The compose form: the account and template chosen, then the template's values."""
    return await _compose(
        request, session, staff, slug, {"account": account, "template": template}, preview=False
    )


@router.post("/console/c/{slug}/notices/preview", response_class=HTMLResponse)
async def preview(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """The notice as residents will read it, in every language, with the Send button."""
    form = await _form(request, staff)
    return await _compose(request, session, staff, slug, form, preview=True)


@router.post("/console/c/{slug}/notices/send", response_class=HTMLResponse)
async def send(request: Request, session: SessionDep, staff: ConsoleStaff, slug: str) -> Response:
    """Send the previewed notice to the followers (of the topic, when one is chosen)."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *SENDERS)
    token = form.get("send_token", "")
    if not (8 <= len(token) <= 64):
        raise PageError(400, "send_token_missing")
    dedupe = DEDUPE_PREFIX + token
    _accounts, account, _templates, template = await _choice(
        session, city.id, form.get("account", "")[:60], form.get("template", "")[:60]
    )
    if account is None or template is None:
        raise PageError(404, "template_not_found")
    try:
        notice_in = NoticeCreate(
            account=account.code,
            template=template.code,
            values=_values(template, form),
            topic=form.get("topic", "")[:60] or None,
            urgent=form.get("urgent") == "1",
        )
    except ValueError:
        raise PageError(400, "invalid_notice") from None
    # Send pressed twice (even at once): the first one stands.
    notice = await sending.create(
        session=session, city=city, actor=staff.actor, notice_in=notice_in, dedupe_key=dedupe,
        guard=provider_guard(staff, city_id=city.id, object_type="notice_account",
                             code="account_not_found"),
    )  # fmt: skip
    return redirect(f"/console/c/{city.slug}/notices/{notice.public_id}")


@router.get("/console/c/{slug}/notices/{notice_id}", response_class=HTMLResponse)
async def notice_detail(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, notice_id: str
) -> Response:
    """One notice: what it says, to whom, and its figures (delivered, opened, acted, amount)."""
    city = await _city(session, staff, slug)
    try:
        notice = await notices.get_notice_or_raise(
            session=session, city_id=city.id, public_id=notice_id[:40]
        )
    except NotFound:
        raise PageError(404, "notice_not_found") from None
    accounts = {a.id: a for a in await notices.list_accounts(session=session, city_id=city.id)}
    return _page(
        request,
        staff,
        "console/notice.html",
        city=city,
        notice=notice,
        account=accounts.get(notice.account_id),
        stats=await notices.stats(session=session, notice=notice),
        routes=await notices.delivered_by_route(session=session, notice=notice),
        parties=await parties(session, city, language(request)),
        text=in_language(notice.texts, language(request)),
    )
