"""Notices on the portal: the resident's inbox in a city (unread first in attention, read when
opened), and the government accounts and topics they follow.

The portal is the hub's own channel: following here is what a channel's follow does
(`notices.inboxes.follow` and the resident's consent to notices on the portal channel), and the
inbox is `notices.inboxes.list_inbox` / `mark_read` for the signed-in resident, limited to the
city of the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import residents
from cityhub.notices import inboxes
from cityhub.notices import service as notices
from cityhub.notices.channel_api import PURPOSE
from cityhub.notices.render import in_language
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import NotFound
from cityhub.web import signin
from cityhub.web.pages import PageError, language, redirect
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    ATTENTION_SOURCES,
    PORTAL_NAV,
    SERVICE_PAGES,
    Attention,
    NavEntry,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
INBOX_ROWS = 50
ATTENTION_ROWS = 5


def _entry_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise PageError(404, "notice_not_found")
    return int(raw)


@router.get("/c/{slug}/notices", response_class=HTMLResponse)
async def inbox(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """The resident's notices from this city, newest first, and whom they follow here."""
    city = await live_city_or_404(session, slug)
    entries = await inboxes.list_inbox(
        session=session, resident_id=visitor.resident.id, city_ids={city.id}, limit=INBOX_ROWS
    )
    lang = language(request)
    shown = [(e, in_language(e.notice.texts, lang)) for e in entries]
    accounts = await notices.list_accounts(session=session, city_id=city.id)
    topics = {
        a.id: await notices.topics_of(session=session, city_id=city.id, account_id=a.id)
        for a in accounts
    }
    follows = await inboxes.list_follows(
        session=session, resident_id=visitor.resident.id, city_ids={city.id}
    )
    followed = {(f.follow.account_id, f.follow.topic): f.follow.id for f in follows}
    return page(
        request,
        settings,
        "portal/notices.html",
        visitor=visitor,
        city=city,
        entries=shown,
        unread=sum(1 for e in entries if e.recipient.read_at is None),
        accounts=accounts,
        topics=topics,
        followed=followed,
    )


@router.get("/c/{slug}/notices/{entry_id}", response_class=HTMLResponse)
async def read_notice(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    entry_id: str,
) -> Response:
    """One notice of the resident's inbox; opening it marks it read (and opened)."""
    city = await live_city_or_404(session, slug)
    try:
        await inboxes.mark_read(
            session=session,
            resident_id=visitor.resident.id,
            recipient_id=_entry_id(entry_id),
            city_ids={city.id},
        )
    except NotFound:
        raise PageError(404, "notice_not_found") from None
    entries = await inboxes.list_inbox(
        session=session,
        resident_id=visitor.resident.id,
        city_ids={city.id},
        after=_entry_id(entry_id) + 1,
        limit=1,
    )
    if not entries or entries[0].recipient.id != _entry_id(entry_id):
        raise PageError(404, "notice_not_found")
    entry = entries[0]
    accounts = {a.id: a for a in await notices.list_accounts(session=session, city_id=city.id)}
    return page(
        request,
        settings,
        "portal/notice.html",
        visitor=visitor,
        city=city,
        entry=entry,
        account=accounts.get(entry.notice.account_id),
        text=in_language(entry.notice.texts, language(request)),
    )


@router.post("/c/{slug}/notices/follow", response_class=HTMLResponse)
async def follow(
    request: Request, session: SessionDep, visitor: SignedInVisitor, slug: str
) -> Response:
    """Follow an account (or one of its topics); this records consent to notices here."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    await cities.require_city_granted(session=session, channel_id=channel.id, city=city)
    account = form.get("account", "")[:60]
    topic = form.get("topic", "")[:60] or None
    if not account:
        raise PageError(400, "account_missing")
    try:
        await inboxes.follow(
            session=session,
            city=city,
            resident_id=visitor.resident.id,
            account_code=account,
            topic=topic,
        )
    except NotFound:
        raise PageError(404, "account_not_found") from None
    await residents.give_consent(
        session=session,
        resident_id=visitor.resident.id,
        channel_id=channel.id,
        scope="notices",
        purpose=PURPOSE,
    )
    return redirect(f"/c/{city.slug}/notices#following")


@router.post("/c/{slug}/notices/unfollow", response_class=HTMLResponse)
async def unfollow(
    request: Request, session: SessionDep, visitor: SignedInVisitor, slug: str
) -> Response:
    """Stop following (only the resident's own follows in this city exist here)."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    wanted = _entry_id(form.get("follow_id", ""))
    mine = await inboxes.list_follows(
        session=session, resident_id=visitor.resident.id, city_ids={city.id}
    )
    if wanted not in {f.follow.id for f in mine}:
        raise PageError(404, "follow_not_found")
    await inboxes.unfollow(session=session, resident_id=visitor.resident.id, follow_id=wanted)
    return redirect(f"/c/{city.slug}/notices#following")


async def _attention(session: AsyncSession, city: City, visitor: Visitor) -> list[Attention]:
    """The resident's unread notices from this city (the newest few)."""
    unread = await inboxes.list_inbox(
        session=session,
        resident_id=visitor.resident.id,
        city_ids={city.id},
        unread=True,
        limit=ATTENTION_ROWS,
    )
    return [
        Attention(
            kind="notice",
            text="",
            url=f"/c/{city.slug}/notices/{e.recipient.id}",
            extra={"texts": e.notice.texts, "urgent": e.notice.urgent},
        )
        for e in unread
    ]


ATTENTION_SOURCES.append(_attention)
PORTAL_NAV.append(NavEntry("Notices", "/notices"))
SERVICE_PAGES["notice"] = "/c/{slug}/notices"  # a city notices service: its accounts to follow
