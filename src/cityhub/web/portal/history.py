"""The resident's history on the portal: everything they did with the city through every
channel where they are proven-linked, newest first, an item's page, and the download of their
own data (PIPL art. 45) as JSON or CSV.

The portal is the hub's own channel and the resident reads their own history here: the same
`history.service.page` and `history.present.build_export` the channel API calls, seen from
the portal channel (another channel's items come without its ids). No consent is asked: the
person is reading their own data, not a channel on their behalf.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.history import present
from cityhub.history import service as history
from cityhub.history.schemas import HistoryItemRead
from cityhub.identity import audit, residents
from cityhub.identity.deps import VaultDep
from cityhub.identity.purposes import Purpose
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError
from cityhub.web import signin
from cityhub.web.pages import PageError
from cityhub.web.portal.visitor import SignedInVisitor, Visitor, page

router = APIRouter(include_in_schema=False)
ROWS = 30
ITEM = "/history/items/"
HUB_ZONE = "Asia/Shanghai"  # an item of no city (a consent) is shown in the hub's zone


async def _zones(session: AsyncSession, items: list[HistoryItemRead]) -> dict[str | None, str]:
    """Each item's city's timezone, to show its time as the city keeps it."""
    zones: dict[str | None, str] = {}
    for slug in {i.city for i in items if i.city}:
        city = await cities.get_city_by_slug(session=session, slug=slug)
        zones[slug] = city.timezone if city else HUB_ZONE
    return zones


async def _scope(
    session: AsyncSession, visitor: Visitor, purpose: Purpose
) -> tuple[residents.ChannelResident, history.Scope]:
    portal = await signin.get_portal_channel_or_raise(session=session)
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=portal.id, user_id=visitor.user_id
    )
    await residents.record_access(
        session=session,
        resident_id=found.resident.id,
        actor=audit.Actor(type="channel", id=portal.slug, name=portal.name, names=portal.names),
        purpose=purpose,
        fields="history",
    )
    scope = await history.scope_for(
        session=session, resident_id=found.resident.id, viewer_channel_id=portal.id
    )
    return found, scope


@router.get("/history", response_class=HTMLResponse)
async def my_history(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
    cursor: str = "",
) -> Response:
    """A page of the resident's history, newest first."""
    try:
        before = history.decode_cursor(cursor[:200] or None)
    except CityHubError:
        raise PageError(404, "not_found") from None
    _, scope = await _scope(session, visitor, Purpose.HISTORY)
    entries, next_mark = await history.page(session=session, scope=scope, before=before, limit=ROWS)
    items = await present.items(
        names=present.Names(session),
        vault=vault,
        scope=scope,
        entries=entries,
        link=lambda token: ITEM + token,
    )
    return page(
        request,
        settings,
        "portal/history.html",
        visitor=visitor,
        items=items,
        zones=await _zones(session, items),
        hub_zone=HUB_ZONE,
        next_cursor=history.encode_cursor(next_mark),
    )


@router.get("/history/items/{item_id}", response_class=HTMLResponse)
async def my_history_item(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: SignedInVisitor,
    item_id: str,
) -> Response:
    """One item of the resident's history."""
    _, scope = await _scope(session, visitor, Purpose.HISTORY_ITEM)
    try:
        entry = await history.get_or_raise(
            session=session, scope=scope, vault=vault, item_id=item_id[:400]
        )
    except CityHubError:
        raise PageError(404, "not_found") from None
    [item] = await present.items(
        names=present.Names(session),
        vault=vault,
        scope=scope,
        entries=[entry],
        link=lambda token: ITEM + token,
    )
    return page(
        request,
        settings,
        "portal/history_item.html",
        visitor=visitor,
        item=item,
        zones=await _zones(session, [item]),
        hub_zone=HUB_ZONE,
    )


@router.get("/history/export.{format}")
async def my_data(
    session: SessionDep, vault: VaultDep, visitor: SignedInVisitor, format: str
) -> Response:
    """The download of the resident's own data: `json` or `csv`."""
    if format not in ("json", "csv"):
        raise PageError(404, "not_found")
    found, scope = await _scope(session, visitor, Purpose.EXPORT)
    export = await present.build_export(
        session=session, vault=vault, found=found, scope=scope, link_base=ITEM
    )
    headers = {
        "Content-Disposition": f'attachment; filename="my-data.{format}"',
        "Cache-Control": "no-store",
    }
    if format == "csv":
        return Response(
            present.to_csv(export.items), media_type="text/csv; charset=utf-8", headers=headers
        )
    return JSONResponse(export.model_dump(mode="json"), headers=headers)
