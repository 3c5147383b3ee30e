"""Subsidies on the portal: the city's open campaigns, the resident's claims, and a claim (the
portal is a channel like the others: one claim per person whichever channel they use; the
same `subsidies.flows.claim` the API calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.connectors.deps import HubDep
from cityhub.identity import audit, residents
from cityhub.identity.deps import VaultDep
from cityhub.identity.enums import IdentityLevel
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError, NotFound
from cityhub.subsidies import claims, flows
from cityhub.subsidies import service as subsidies
from cityhub.web import signin
from cityhub.web.pages import redirect
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    OptionalVisitor,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
    verify_url,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cityhub.cities.models import City
    from cityhub.platform.config import Settings

router = APIRouter(include_in_schema=False)
ROWS = 50


async def _page(
    request: Request, session: AsyncSession, settings: Settings, visitor: Visitor | None,
    city: City, *, status: int = 200, error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    now = utcnow()
    rows = await subsidies.get_all(session=session, city_id=city.id, limit=ROWS)
    open_ = [
        await subsidies.read(session=session, city_slug=city.slug, row=r)
        for r in rows
        if r.status.value == "active" and r.starts_at <= now < r.ends_at
    ]
    mine = []
    if visitor is not None:
        channel = await signin.get_portal_channel_or_raise(session=session)
        try:
            found = await residents.get_for_channel_or_raise(
                session=session, channel_id=channel.id, user_id=visitor.user_id
            )
        except NotFound:
            found = None
        if found is not None:
            taken = await claims.get_all_of(
                session=session, city_id=city.id, resident_id=found.resident.id, after=None,
                limit=ROWS,
            )  # fmt: skip
            mine = [claims.read(c, k, now) for c, k in taken]
    return page(
        request, settings, "portal/subsidies.html", status=status, visitor=visitor, city=city,
        campaigns=open_, mine=mine, error=error,
    )  # fmt: skip


@router.get("/c/{slug}/subsidies", response_class=HTMLResponse)
async def campaigns(
    request: Request, session: SessionDep, settings: SettingsDep, visitor: OptionalVisitor,
    slug: str,
) -> Response:  # fmt: skip
    """The city's open campaigns, and the signed-in resident's claims."""
    city = await live_city_or_404(session, slug)
    return await _page(request, session, settings, visitor, city)


@router.post("/c/{slug}/subsidies/{code}/claim", response_class=HTMLResponse)
async def claim(
    request: Request, session: SessionDep, settings: SettingsDep, vault: VaultDep, hub: HubDep,
    visitor: SignedInVisitor, slug: str, code: str,
) -> Response:  # fmt: skip
    """Claim a campaign (once per person): a subsidy is real-name, so verify first."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    back = f"/c/{city.slug}/subsidies"
    if not visitor.reaches(IdentityLevel.CHANNEL_ASSERTED):
        return redirect(verify_url(back, city.slug))
    channel = await signin.get_portal_channel_or_raise(session=session)
    try:
        await flows.claim(
            session=session, vault=vault, hub=hub,
            actor=audit.Actor(type="channel", id=channel.slug, name=channel.name), city=city,
            code=code[:60], channel_id=channel.id, user_id=visitor.user_id,
        )  # fmt: skip
    except CityHubError as exc:  # said on the page: claimed already, none left, not eligible
        return await _page(
            request, session, settings, visitor, city, status=exc.status, error=exc.code
        )
    return redirect(back)
