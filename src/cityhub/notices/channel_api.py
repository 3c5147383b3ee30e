"""Routes of notices for channels, on behalf of their own users: follows, the inbox, push
preferences and saved biller accounts. A channel sees only its own users, and only notices of
the cities that granted it something."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from cityhub.cities import service as cities
from cityhub.identity import residents
from cityhub.identity import service as identity
from cityhub.identity.deps import ChannelCaller, CurrentChannel, VaultDep
from cityhub.identity.purposes import Purpose
from cityhub.notices import inboxes, links, preferences
from cityhub.notices.render import LANGUAGES, in_language
from cityhub.notices.schemas import (
    BillerAccountCreate,
    BillerAccountRead,
    FollowCreate,
    FollowRead,
    InboxItem,
    PreferencesRead,
    PreferencesUpdate,
)
from cityhub.platform.db import MAX_ROW_ID
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1/residents/{user_id}", tags=["notices"])
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]
ItemId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
SCOPE = "notices:read"
PURPOSE = Purpose.NOTICES


async def _user(
    session: SessionDep, caller: ChannelCaller, user_id: str
) -> residents.ChannelResident:
    caller.require(SCOPE)
    return await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )


def _follow_read(view: inboxes.FollowView) -> FollowRead:
    return FollowRead(
        id=view.follow.id,
        city=view.city,
        account=view.account,
        topic=view.follow.topic or None,
        created_at=view.follow.created_at,
    )


@router.get(
    "/follows",
    operation_id="listFollows",
    summary="List a user's follows",
    response_model=Page[FollowRead],
)
async def list_follows(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, page: PageDep
) -> Page[FollowRead]:
    """What the user follows, in the cities that granted this channel something."""
    found = await _user(session, caller, user_id)
    granted = await cities.granted_city_ids(session=session, channel_id=caller.channel.id)
    views = await inboxes.list_follows(
        session=session, resident_id=found.resident.id, city_ids=granted
    )
    return page.slice([_follow_read(v) for v in views], key=lambda x: x.id)


@router.post(
    "/follows",
    operation_id="createFollow",
    summary="Follow an account or topic",
    status_code=201,
    response_model=FollowRead,
)
async def follow(
    session: SessionDep,
    caller: CurrentChannel,
    user_id: UserId,
    follow_in: FollowCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Follow an account or a topic; records the user's consent to notices on this channel."""
    found = await _user(session, caller, user_id)
    city = await cities.get_city_or_raise(session=session, slug=follow_in.city)
    await cities.require_city_granted(session=session, channel_id=caller.channel.id, city=city)
    row = await inboxes.follow(
        session=session,
        city=city,
        resident_id=found.resident.id,
        account_code=follow_in.account,
        topic=follow_in.topic,
    )
    await residents.give_consent(
        session=session,
        resident_id=found.resident.id,
        channel_id=caller.channel.id,
        scope="notices",
        purpose=PURPOSE,
    )
    view = inboxes.FollowView(follow=row, city=city.slug, account=follow_in.account)
    return await idem.respond(201, _follow_read(view))


@router.delete(
    "/follows/{follow_id}", operation_id="deleteFollow", summary="Stop following", status_code=204
)
async def unfollow(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, follow_id: ItemId
) -> None:
    """Stop following: later notices of the account or topic do not reach the user."""
    found = await _user(session, caller, user_id)
    await inboxes.unfollow(session=session, resident_id=found.resident.id, follow_id=follow_id)


@router.get(
    "/notices",
    operation_id="listInbox",
    summary="List a user's inbox",
    response_model=Page[InboxItem],
)
async def inbox(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    page: PageDep,
    lang: Annotated[str, Query(max_length=8, description=", ".join(LANGUAGES))] = "zh-Hans",
    unread: bool = False,
) -> Page[InboxItem]:
    """The user's inbox, newest first: notices of the cities that granted this channel."""
    if lang not in LANGUAGES:
        raise Unprocessable(f"lang must be one of {', '.join(LANGUAGES)}", field="lang")
    found = await _user(session, caller, user_id)
    granted = await cities.granted_city_ids(session=session, channel_id=caller.channel.id)
    entries = await inboxes.list_inbox(
        session=session,
        resident_id=found.resident.id,
        city_ids=granted,
        unread=unread,
        after=page.after,
        limit=page.limit,
    )
    items = [
        InboxItem(
            id=e.recipient.id,
            notice=e.notice.public_id,
            city=e.city,
            account=e.account,
            urgent=e.notice.urgent,
            link=links.link_for(caller.channel, e.notice, e.city),
            tracking=inboxes.tracking_of(vault, e.recipient.id),
            created_at=e.recipient.created_at,
            read_at=e.recipient.read_at,
            **in_language(e.notice.texts, lang),
        )
        for e in entries
    ]
    return page.page(items, entries[-1].recipient.id if entries else None)


@router.post(
    "/notices/{entry_id}/read",
    operation_id="markNoticeRead",
    summary="Mark an inbox entry read",
    response_model=dict[str, str],
)
async def mark_read(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, entry_id: ItemId
) -> dict[str, str]:
    """Mark an inbox entry read (which also counts as opening it)."""
    found = await _user(session, caller, user_id)
    granted = await cities.granted_city_ids(session=session, channel_id=caller.channel.id)
    entry = await inboxes.mark_read(
        session=session, resident_id=found.resident.id, recipient_id=entry_id, city_ids=granted
    )
    assert entry.read_at is not None
    return {"status": "read", "read_at": entry.read_at.isoformat()}


async def _prefs_read(session: SessionDep, found: residents.ChannelResident) -> PreferencesRead:
    prefs = await preferences.preferences_of(session=session, resident_id=found.resident.id)
    preferred = (
        await identity.get_channel_slug(session=session, channel_id=prefs.channel_id)
        if prefs.channel_id
        else None
    )
    return PreferencesRead(
        preferred_channel=preferred,
        language=prefs.language,
        email=prefs.email_masked,
        phone=found.resident.phone_masked,
        sms=prefs.sms,
        email_notices=prefs.email,
    )


@router.get(
    "/notice-preferences",
    operation_id="getNoticePreferences",
    summary="Get a user's notice preferences",
    response_model=PreferencesRead,
)
async def get_preferences(
    session: SessionDep, caller: CurrentChannel, user_id: UserId
) -> PreferencesRead:
    """How notices are pushed to the user (numbers and addresses masked)."""
    return await _prefs_read(session, await _user(session, caller, user_id))


@router.patch(
    "/notice-preferences",
    operation_id="updateNoticePreferences",
    summary="Change a user's notice preferences",
    response_model=PreferencesRead,
)
async def update_preferences(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    prefs_in: PreferencesUpdate,
) -> PreferencesRead:
    """Prefer this channel, choose a language, give an email address, turn SMS or email off."""
    found = await _user(session, caller, user_id)
    await preferences.update_preferences(
        session=session,
        vault=vault,
        resident_id=found.resident.id,
        channel_id=caller.channel.id,
        prefs_in=prefs_in,
    )
    return await _prefs_read(session, found)


@router.post(
    "/biller-accounts",
    operation_id="saveBillerAccount",
    summary="Save a user's biller account",
    status_code=201,
    response_model=BillerAccountRead,
)
async def save_biller_account(
    session: SessionDep,
    caller: CurrentChannel,
    user_id: UserId,
    account_in: BillerAccountCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Save the user's account at a biller: bill reminders, and notices to its customers."""
    found = await _user(session, caller, user_id)
    city = await cities.get_city_or_raise(session=session, slug=account_in.city)
    await cities.require_city_granted(session=session, channel_id=caller.channel.id, city=city)
    saved, code = await preferences.save_biller_account(
        session=session,
        city=city,
        resident_id=found.resident.id,
        service_code=account_in.service,
        account=account_in.account,
        district=account_in.district,
    )
    read = BillerAccountRead(
        id=saved.id, city=city.slug, service=code, account=saved.account, district=saved.district
    )
    return await idem.respond(201, read)
