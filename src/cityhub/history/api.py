"""Routes of the history: a channel reads its own user's history, one item of it and the
export of the person's own data, with the person's consent (`history`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.history import present
from cityhub.history import service as history
from cityhub.history.schemas import HistoryItemRead, ResidentExport
from cityhub.identity import residents
from cityhub.identity.deps import ChannelCaller, CurrentChannel, VaultDep
from cityhub.identity.purposes import Purpose
from cityhub.platform.deps import SessionDep
from cityhub.platform.paging import MAX_LIMIT, Page

router = APIRouter(prefix="/v1/residents/{user_id}", tags=["history"])
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]
CONSENT_SCOPE = "history"


async def _scope(
    session: AsyncSession, caller: ChannelCaller, user_id: str, purpose: Purpose
) -> tuple[residents.ChannelResident, history.Scope]:
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    await residents.require_consent(
        session=session, resident=found.resident, channel_id=caller.channel.id, scope=CONSENT_SCOPE
    )
    await residents.record_access(
        session=session,
        resident_id=found.resident.id,
        actor=caller.actor,
        purpose=purpose,
        fields="history: payments, bookings, queries, applications, requests, notices, consents",
    )
    scope = await history.scope_for(
        session=session, resident_id=found.resident.id, viewer_channel_id=caller.channel.id
    )
    return found, scope


def _link(user_id: str) -> Callable[[str], str]:
    return lambda token: f"/v1/residents/{user_id}/history/items/{token}"


@router.get(
    "/history",
    response_model=Page[HistoryItemRead],
    operation_id="getResidentHistory",
    summary="The user's history across their linked channels, newest first",
)
async def get_history(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> Page[HistoryItemRead]:
    """The person's payments, bookings, queries, applications, requests, notices and
    consents through every channel where they are proven-linked; another channel's items come
    without its ids. Needs the person's consent `history` for this channel."""
    before = history.decode_cursor(cursor)
    _, scope = await _scope(session, caller, user_id, Purpose.HISTORY)
    entries, next_mark = await history.page(
        session=session, scope=scope, before=before, limit=limit
    )
    shown = await present.items(
        names=present.Names(session), vault=vault, scope=scope, entries=entries, link=_link(user_id)
    )
    return Page[HistoryItemRead](items=shown, next_cursor=history.encode_cursor(next_mark))


@router.get(
    "/history/items/{item_id}",
    response_model=HistoryItemRead,
    operation_id="getResidentHistoryItem",
    summary="One item of the user's history",
)
async def get_history_item(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    item_id: Annotated[str, Path(max_length=400)],
) -> HistoryItemRead:
    """One item, by the id the history gave it (404 for anything not in this history)."""
    _, scope = await _scope(session, caller, user_id, Purpose.HISTORY_ITEM)
    entry = await history.get_or_raise(session=session, scope=scope, vault=vault, item_id=item_id)
    [shown] = await present.items(
        names=present.Names(session), vault=vault, scope=scope, entries=[entry], link=_link(user_id)
    )
    return shown


@router.get(
    "/history/export",
    response_model=ResidentExport,
    operation_id="exportResidentData",
    summary="A copy of the person's own data (PIPL art. 45), JSON or CSV",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def export_history(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Response:
    """Everything of the person's the channel may show them: their profile (masked), their
    whole history and who read their data; CSV holds the history's items."""
    found, scope = await _scope(session, caller, user_id, Purpose.EXPORT)
    export = await present.build_export(session=session, vault=vault, found=found, scope=scope)
    if format == "csv":
        return Response(
            present.to_csv(export.items),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="my-data.csv"'},
        )
    return JSONResponse(
        export.model_dump(mode="json"),
        headers={"Content-Disposition": 'attachment; filename="my-data.json"'},
    )
