"""What a resident follows and their inbox: follows, inbox entries, reading and opening them.

Plain service functions (keyword-only, session first, never commit): the channel API, the
staff API and the resident portal call the same ones (`follow`, `unfollow`, `list_follows`,
`list_inbox`, `mark_read`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity.pii import Vault
from cityhub.notices.models import Follow, GovAccount, Notice, NoticeRecipient
from cityhub.notices.service import get_account_or_raise, require_topic
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def _city_slugs(session: AsyncSession, city_ids: set[int]) -> dict[int, str]:
    """The slugs of these cities, by id (what a follow or an inbox entry is shown by)."""
    if not city_ids:
        return {}
    found = await cities.get_all_cities(
        session=session, city_ids=city_ids, after=None, limit=len(city_ids)
    )
    return {c.id: c.slug for c in found}


# -- follows -------------------------------------------------------------------------------


async def follow(
    *, session: AsyncSession, city: City, resident_id: int, account_code: str, topic: str | None
) -> Follow:
    """Follow an account or one of its topics (the same follow again is kept as it is)."""
    account = await get_account_or_raise(session=session, city_id=city.id, code=account_code)
    if topic:
        await require_topic(session=session, account=account, code=topic)
    key = (
        Follow.city_id == city.id,
        Follow.account_id == account.id,
        Follow.resident_id == resident_id,
        Follow.topic == (topic or ""),
    )
    found = await session.scalar(select(Follow).where(*key))
    if found is not None:
        return found
    row = Follow(city_id=city.id, account_id=account.id, resident_id=resident_id, topic=topic or "")
    session.add(row)
    await session.flush()
    return row


async def unfollow(*, session: AsyncSession, resident_id: int, follow_id: int) -> None:
    """Stop following (NotFound for another resident's follow)."""
    gone = await session.execute(
        delete(Follow).where(Follow.id == follow_id, Follow.resident_id == resident_id)
    )
    if gone.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"no follow {follow_id}", code="follow_not_found")


@dataclass(frozen=True)
class FollowView:
    """A follow with the names it is shown by."""

    follow: Follow
    city: str
    account: str


async def list_follows(
    *, session: AsyncSession, resident_id: int, city_ids: set[int] | None = None
) -> list[FollowView]:
    """What the resident follows (in these cities, when given)."""
    query = (
        select(Follow, GovAccount.code)
        .join(GovAccount, GovAccount.id == Follow.account_id)
        .where(Follow.resident_id == resident_id)
        .order_by(Follow.id)
    )
    if city_ids is not None:
        query = query.where(Follow.city_id.in_(city_ids))
    rows = (await session.execute(query)).all()
    slugs = await _city_slugs(session, {f.city_id for f, _a in rows})
    return [FollowView(follow=f, city=slugs[f.city_id], account=a) for f, a in rows]


# -- inbox ---------------------------------------------------------------------------------


def tracking_of(vault: Vault, recipient_id: int) -> str:
    """The tracking reference of an inbox entry: its id and a keyed check, unguessable."""
    return f"{recipient_id}.{vault.lookup_hash('notice-open', str(recipient_id))[:20]}"


def recipient_of_tracking(vault: Vault, tracking: str) -> int:
    """The inbox entry a tracking reference names, or NotFound."""
    ident, _, check = tracking.partition(".")
    if ident.isdigit() and len(ident) < 19:
        expected = tracking_of(vault, int(ident))
        if hmac.compare_digest(expected.encode(), tracking.encode()):
            return int(ident)
    raise NotFound("no such tracking reference", code="tracking_not_found", field="tracking")


@dataclass(frozen=True)
class InboxEntry:
    """An inbox entry with its notice and where it comes from."""

    recipient: NoticeRecipient
    notice: Notice
    city: str
    account: str


async def list_inbox(
    *,
    session: AsyncSession,
    resident_id: int,
    city_ids: set[int] | None = None,
    unread: bool = False,
    after: int | None = None,
    limit: int = 50,
) -> list[InboxEntry]:
    """The resident's inbox, newest first (only these cities' notices, when given)."""
    query = (
        select(NoticeRecipient, Notice, GovAccount.code)
        .join(Notice, Notice.id == NoticeRecipient.notice_id)
        .join(GovAccount, GovAccount.id == Notice.account_id)
        .where(NoticeRecipient.resident_id == resident_id)
        .order_by(NoticeRecipient.id.desc())
        .limit(limit)
    )
    if city_ids is not None:
        query = query.where(NoticeRecipient.city_id.in_(city_ids))
    if unread:
        query = query.where(NoticeRecipient.read_at.is_(None))
    if after is not None:
        query = query.where(NoticeRecipient.id < after)
    rows = (await session.execute(query)).all()
    slugs = await _city_slugs(session, {r.city_id for r, _n, _a in rows})
    return [InboxEntry(recipient=r, notice=n, city=slugs[r.city_id], account=a) for r, n, a in rows]


async def mark_read(
    *, session: AsyncSession, resident_id: int, recipient_id: int, city_ids: set[int] | None = None
) -> NoticeRecipient:
    """Mark an inbox entry read (reading it opens it too)."""
    query = select(NoticeRecipient).where(
        NoticeRecipient.id == recipient_id, NoticeRecipient.resident_id == resident_id
    )
    if city_ids is not None:
        query = query.where(NoticeRecipient.city_id.in_(city_ids))
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no notice {recipient_id} in this inbox", code="notice_not_found")
    now = utcnow()
    found.read_at = found.read_at or now
    found.opened_at = found.opened_at or now
    await session.flush()
    return found


async def mark_opened(
    *, session: AsyncSession, recipient_id: int
) -> tuple[NoticeRecipient, Notice]:
    """Record that the resident opened the notice (the first time counts)."""
    await session.execute(
        update(NoticeRecipient)
        .where(NoticeRecipient.id == recipient_id, NoticeRecipient.opened_at.is_(None))
        .values(opened_at=utcnow())
    )
    row = (
        await session.execute(
            select(NoticeRecipient, Notice)
            .join(Notice, Notice.id == NoticeRecipient.notice_id)
            .where(NoticeRecipient.id == recipient_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise NotFound("no such tracking reference", code="tracking_not_found")
    return row[0], row[1]
