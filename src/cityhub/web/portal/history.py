"""The resident's history on the portal: everything they did with the city through every
channel where they are proven-linked, newest first, an item's page, and the download of their
own data (PIPL art. 45) as JSON or CSV.

The portal is the hub's own channel and the resident reads their own history here: the same
`history.service.page` and `history.present.build_export` the channel API calls, seen from
the portal channel (another channel's items come without its ids). No consent is asked: the
person is reading their own data, not a channel on their behalf.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.history import present
from cityhub.history import service as history
from cityhub.history.schemas import HistoryItemRead
from cityhub.identity import audit, residents
from cityhub.identity import service as identity
from cityhub.identity.deps import VaultDep
from cityhub.identity.purposes import Purpose
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError
from cityhub.web import signin
from cityhub.web.pages import PageError
from cityhub.web.portal.visitor import SignedInVisitor, Visitor, page

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

router = APIRouter(include_in_schema=False)
ROWS = 30
ITEM = "/history/items/"
HUB_ZONE = "Asia/Shanghai"  # an item of no city (a consent) is shown in the hub's zone


async def _names(
    session: AsyncSession, scope: history.Scope, items: list[HistoryItemRead]
) -> dict[str, Any]:
    """What the pages name an item by in the reader's language: each item's city (its name,
    and its timezone to show the time as the city keeps it), its service and its channel
    (their names, never a slug or a code)."""
    found: dict[str, City] = {}
    for slug in {i.city for i in items if i.city}:
        city = await cities.get_city_by_slug(session=session, slug=slug)
        if city is not None:
            found[slug] = city
    services: dict[tuple[str, str], Service] = {}
    for slug, code in {(i.city, i.service) for i in items if i.city in found and i.service}:
        try:
            services[slug, code] = await cities.get_service_or_raise(
                session=session, city_id=found[slug].id, code=code
            )
        except CityHubError:
            continue  # a service since removed: the item is named by its own words
    channels = await identity.get_channels_by_id(
        session=session, channel_ids=set(scope.channel_ids)
    )
    return {
        "cities": found,
        "zones": {slug: city.timezone for slug, city in found.items()},
        "services": services,
        "channels": {c.slug: c for c in channels.values()},
        "hub_zone": HUB_ZONE,
    }


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
        **await _names(session, scope, items),
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
        **await _names(session, scope, [item]),
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
