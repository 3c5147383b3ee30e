"""The family members a resident books for, on the portal: listed (masked), and added with
their identity number checked like the resident's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import family
from cityhub.appointments.schemas import FamilyMemberCreate
from cityhub.identity.deps import VaultDep
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import Conflict, Forbidden
from cityhub.web import signin
from cityhub.web.pages import redirect
from cityhub.web.portal.appointments import verified_or_redirect
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import SignedInVisitor, Visitor, check_csrf, page

router = APIRouter(include_in_schema=False)


async def _family_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    user_id: str,
    slug: str,
    *,
    status: int = 200,
    error: str | None = None,
    back: str = "",
) -> Response:
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    members = await family.get_all(session=session, channel_id=channel.id, user_id=user_id)
    return page(
        request,
        settings,
        "portal/family.html",
        status=status,
        visitor=visitor,
        city=city,
        members=[(m.relation, m.id_number_masked) for m in members],
        error=error,
        back=back,
    )


def _local_back(value: str | None) -> str:
    return value if value and value.startswith("/c/") and "//" not in value else ""


@router.get("/c/{slug}/family", response_class=HTMLResponse)
async def family_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    back: Annotated[str, Query(max_length=300)] = "",
) -> Response:
    """The family members the resident books for (masked), and a form to add one."""
    unverified = verified_or_redirect(request, visitor)
    if unverified is not None:
        return unverified
    return await _family_page(
        request, session, settings, visitor, visitor.user_id, slug, back=_local_back(back)
    )


@router.post("/c/{slug}/family", response_class=HTMLResponse)
async def add_family_member(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """Add a family member (their identity number is checked like the resident's)."""
    form = await check_csrf(request)
    user_id = visitor.user_id
    back = _local_back(form.get("back"))
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        member_in = FamilyMemberCreate(
            name=form.get("name", "").strip(),
            id_number=form.get("id_number", ""),
            relation=form.get("relation", "").strip(),
        )
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "name"
        return await _family_page(
            request,
            session,
            settings,
            visitor,
            user_id,
            slug,
            status=422,
            error=f"invalid_{field}",
            back=back,
        )
    try:
        async with session.begin_nested():
            await family.add(
                session=session,
                vault=vault,
                channel_id=channel.id,
                user_id=user_id,
                member_in=member_in,
            )
    except (Conflict, Forbidden) as exc:
        return await _family_page(
            request, session, settings, visitor, user_id, slug, status=409, error=exc.code
        )
    return redirect(back or f"/c/{slug}/family")
