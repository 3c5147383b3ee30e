"""Government accounts, topics, templates, the city's push rules, follows, inboxes, preferences.

Plain service functions (keyword-only, session first, never commit): the channel API, the
staff API and the resident portal call the same ones (`list_accounts`, `follow`, `unfollow`,
`list_inbox`, `mark_read`).
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.models import City, Grant
from cityhub.identity.pii import Vault
from cityhub.notices.models import (
    Follow,
    GovAccount,
    Notice,
    NoticePreference,
    NoticeRecipient,
    NoticeSettings,
    NoticeTemplate,
    NoticeTopic,
    SavedBillerAccount,
)
from cityhub.notices.render import check_template, render
from cityhub.notices.schemas import (
    AccountCreate,
    PreferencesUpdate,
    SettingsUpdate,
    TemplateCreate,
    TopicCreate,
)
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

# -- accounts and topics -------------------------------------------------------------------


async def get_account_or_raise(*, session: AsyncSession, city_id: int, code: str) -> GovAccount:
    """A city's government account by code, or NotFound."""
    found = await session.scalar(
        select(GovAccount).where(GovAccount.city_id == city_id, GovAccount.code == code)
    )
    if found is None:
        raise NotFound(f"no government account {code!r}", code="account_not_found", field="account")
    return found


async def create_account(
    *, session: AsyncSession, city_id: int, account_in: AccountCreate
) -> GovAccount:
    """Add an agency's account to the city (409 when the code is taken)."""
    exists = await session.scalar(
        select(GovAccount.id).where(
            GovAccount.city_id == city_id, GovAccount.code == account_in.code
        )
    )
    if exists:
        raise Conflict(f"account {account_in.code!r} exists", code="account_exists", field="code")
    service_id = None
    if account_in.service:
        service = await cities.get_service_or_raise(
            session=session, city_id=city_id, code=account_in.service
        )
        service_id = service.id
    account = GovAccount(
        city_id=city_id,
        code=account_in.code,
        name=account_in.name,
        agency=account_in.agency,
        service_id=service_id,
    )
    session.add(account)
    await session.flush()
    return account


async def list_accounts(*, session: AsyncSession, city_id: int) -> list[GovAccount]:
    """The city's government accounts, by code."""
    query = select(GovAccount).where(GovAccount.city_id == city_id).order_by(GovAccount.code)
    return list((await session.scalars(query)).all())


async def topics_of(*, session: AsyncSession, city_id: int, account_id: int) -> list[NoticeTopic]:
    """An account's topics, by code."""
    query = (
        select(NoticeTopic)
        .where(NoticeTopic.city_id == city_id, NoticeTopic.account_id == account_id)
        .order_by(NoticeTopic.code)
    )
    return list((await session.scalars(query)).all())


async def follower_count(*, session: AsyncSession, city_id: int, account_id: int) -> int:
    """How many residents follow the account or one of its topics."""
    count = await session.scalar(
        select(func.count(func.distinct(Follow.resident_id))).where(
            Follow.city_id == city_id, Follow.account_id == account_id
        )
    )
    return int(count or 0)


async def create_topic(
    *, session: AsyncSession, account: GovAccount, topic_in: TopicCreate
) -> NoticeTopic:
    """Add a topic to an account (409 when the code is taken)."""
    exists = await session.scalar(
        select(NoticeTopic.id).where(
            NoticeTopic.city_id == account.city_id,
            NoticeTopic.account_id == account.id,
            NoticeTopic.code == topic_in.code,
        )
    )
    if exists:
        raise Conflict(f"topic {topic_in.code!r} exists", code="topic_exists", field="code")
    topic = NoticeTopic(
        city_id=account.city_id, account_id=account.id, code=topic_in.code, name=topic_in.name
    )
    session.add(topic)
    await session.flush()
    return topic


async def require_topic(*, session: AsyncSession, account: GovAccount, code: str) -> None:
    """NotFound unless the account has this topic."""
    found = await session.scalar(
        select(NoticeTopic.id).where(
            NoticeTopic.city_id == account.city_id,
            NoticeTopic.account_id == account.id,
            NoticeTopic.code == code,
        )
    )
    if found is None:
        raise NotFound(
            f"no topic {code!r} in {account.code}", code="topic_not_found", field="topic"
        )


# -- templates -----------------------------------------------------------------------------


async def create_template(
    *, session: AsyncSession, account: GovAccount, template_in: TemplateCreate
) -> NoticeTemplate:
    """Add a template; its texts may use only the placeholders it declares (422 naming one)."""
    texts: dict[str, dict[str, str]] = {
        str(lang): t.model_dump() for lang, t in template_in.texts.items()
    }
    check_template(template_in.placeholders, texts)
    exists = await session.scalar(
        select(NoticeTemplate.id).where(
            NoticeTemplate.city_id == account.city_id,
            NoticeTemplate.account_id == account.id,
            NoticeTemplate.code == template_in.code,
        )
    )
    if exists:
        raise Conflict(
            f"template {template_in.code!r} exists", code="template_exists", field="code"
        )
    template = NoticeTemplate(
        city_id=account.city_id,
        account_id=account.id,
        code=template_in.code,
        placeholders=dict(template_in.placeholders),
        texts=texts,
    )
    session.add(template)
    await session.flush()
    return template


async def get_template_or_raise(
    *, session: AsyncSession, account: GovAccount, code: str
) -> NoticeTemplate:
    """An account's template by code, or NotFound."""
    found = await session.scalar(
        select(NoticeTemplate).where(
            NoticeTemplate.city_id == account.city_id,
            NoticeTemplate.account_id == account.id,
            NoticeTemplate.code == code,
        )
    )
    if found is None:
        raise NotFound(f"no template {code!r}", code="template_not_found", field="template")
    return found


async def list_templates(*, session: AsyncSession, account: GovAccount) -> list[NoticeTemplate]:
    """An account's templates, by code."""
    query = (
        select(NoticeTemplate)
        .where(NoticeTemplate.city_id == account.city_id, NoticeTemplate.account_id == account.id)
        .order_by(NoticeTemplate.code)
    )
    return list((await session.scalars(query)).all())


def preview(template: NoticeTemplate, values: dict[str, object]) -> dict[str, dict[str, str]]:
    """The template with these values, in every language (422 naming a bad value)."""
    return render(template.placeholders, template.texts, dict(values))


# -- the city's push rules -----------------------------------------------------------------


async def settings_of(*, session: AsyncSession, city_id: int) -> NoticeSettings:
    """The city's push rules (the defaults until staff change them)."""
    found = await session.scalar(select(NoticeSettings).where(NoticeSettings.city_id == city_id))
    return found or NoticeSettings(
        city_id=city_id, quiet_start=22 * 60, quiet_end=8 * 60, daily_cap=3, conversion_days=7
    )


def _minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def hhmm(minutes: int) -> str:
    """`22:00` for 1320."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


async def update_settings(
    *, session: AsyncSession, city_id: int, settings_in: SettingsUpdate
) -> NoticeSettings:
    """Change the city's quiet hours, daily cap or conversion window."""
    current = await settings_of(session=session, city_id=city_id)
    if current.id is None:
        session.add(current)
    changes = settings_in.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None:
            raise Unprocessable(f"{name} cannot be null", field=name)
        if name in ("quiet_start", "quiet_end"):
            value = _minutes(value)
        setattr(current, name, value)
    await session.flush()
    return current


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
        select(Follow, City.slug, GovAccount.code)
        .join(City, City.id == Follow.city_id)
        .join(GovAccount, GovAccount.id == Follow.account_id)
        .where(Follow.resident_id == resident_id)
        .order_by(Follow.id)
    )
    if city_ids is not None:
        query = query.where(Follow.city_id.in_(city_ids))
    rows = (await session.execute(query)).all()
    return [FollowView(follow=f, city=c, account=a) for f, c, a in rows]


async def granted_city_ids(*, session: AsyncSession, channel_id: int) -> set[int]:
    """The cities that granted the channel some service."""
    rows = await session.scalars(
        select(Grant.city_id).where(Grant.channel_id == channel_id).distinct()
    )
    return set(rows)


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
        select(NoticeRecipient, Notice, City.slug, GovAccount.code)
        .join(Notice, Notice.id == NoticeRecipient.notice_id)
        .join(City, City.id == NoticeRecipient.city_id)
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
    return [InboxEntry(recipient=r, notice=n, city=c, account=a) for r, n, c, a in rows]


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


# -- preferences and saved biller accounts -------------------------------------------------


def mask_email(email: str) -> str:
    """`z***@example.com`."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}"


async def preferences_of(*, session: AsyncSession, resident_id: int) -> NoticePreference:
    """The resident's push preferences (defaults until set)."""
    found = await session.get(NoticePreference, resident_id)
    return found or NoticePreference(
        resident_id=resident_id, channel_id=None, language="zh-Hans", sms=True, email=True
    )


async def update_preferences(
    *,
    session: AsyncSession,
    vault: Vault,
    resident_id: int,
    channel_id: int,
    prefs_in: PreferencesUpdate,
) -> NoticePreference:
    """Change how the resident wants notices pushed; an email address is kept encrypted."""
    prefs = await preferences_of(session=session, resident_id=resident_id)
    if prefs not in session:
        session.add(prefs)
    for name, value in prefs_in.model_dump(exclude_unset=True).items():
        if value is None:
            raise Unprocessable(f"{name} cannot be null", field=name)
        if name == "prefer_this_channel":
            prefs.channel_id = channel_id if value else None
        elif name == "email":
            prefs.email_enc = vault.encrypt(value)
            prefs.email_masked = mask_email(value)
        elif name == "email_notices":
            prefs.email = value
        else:
            setattr(prefs, name, value)
    await session.flush()
    return prefs


async def unsubscribe_email(*, session: AsyncSession, resident_id: int) -> None:
    """Stop notices by email (the link at the foot of every email)."""
    prefs = await preferences_of(session=session, resident_id=resident_id)
    if prefs not in session:
        session.add(prefs)
    prefs.email = False
    await session.flush()


def unsubscribe_token(vault: Vault, resident_id: int) -> str:
    """The token of a resident's unsubscribe link."""
    return f"{resident_id}.{vault.lookup_hash('notice-unsubscribe', str(resident_id))[:24]}"


def resident_of_unsubscribe(vault: Vault, token: str) -> int:
    """The resident an unsubscribe token names, or NotFound."""
    ident, _, _check = token.partition(".")
    if ident.isdigit() and len(ident) < 19:
        if hmac.compare_digest(unsubscribe_token(vault, int(ident)).encode(), token.encode()):
            return int(ident)
    raise NotFound("no such unsubscribe link", code="unsubscribe_not_found")


async def save_biller_account(
    *,
    session: AsyncSession,
    city: City,
    resident_id: int,
    service_code: str,
    account: str,
    district: str,
) -> tuple[SavedBillerAccount, str]:
    """Save the resident's account at a biller (the same again updates its district)."""
    service = await cities.get_service_or_raise(session=session, city_id=city.id, code=service_code)
    found = await session.scalar(
        select(SavedBillerAccount).where(
            SavedBillerAccount.city_id == city.id,
            SavedBillerAccount.service_id == service.id,
            SavedBillerAccount.account == account,
            SavedBillerAccount.resident_id == resident_id,
        )
    )
    if found is None:
        found = SavedBillerAccount(
            city_id=city.id,
            service_id=service.id,
            account=account,
            district=district,
            resident_id=resident_id,
        )
        session.add(found)
    else:
        found.district = district
    await session.flush()
    return found, service.code


async def activity_since(
    *, session: AsyncSession, city_id: int, since: dt.datetime
) -> tuple[int, int, int]:
    """Notices sent since then, recipients who acted on one since then, and what they paid."""
    sent = await session.scalar(
        select(func.count(Notice.id)).where(Notice.city_id == city_id, Notice.created_at >= since)
    )
    acted, paid = (
        await session.execute(
            select(func.count(NoticeRecipient.id), func.sum(NoticeRecipient.acted_fen)).where(
                NoticeRecipient.city_id == city_id, NoticeRecipient.acted_at >= since
            )
        )
    ).one()
    return int(sent or 0), int(acted or 0), int(paid or 0)


def local_day(city: City, at: dt.datetime) -> dt.date:
    """The date in the city's timezone at an instant."""
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(city.timezone)).date()


# -- notices and their figures -------------------------------------------------------------


async def get_notice_or_raise(*, session: AsyncSession, city_id: int, public_id: str) -> Notice:
    """A city's notice by public id, or NotFound."""
    found = await session.scalar(
        select(Notice).where(Notice.city_id == city_id, Notice.public_id == public_id)
    )
    if found is None:
        raise NotFound(f"no notice {public_id!r}", code="notice_not_found")
    return found


async def list_notices(
    *, session: AsyncSession, city_id: int, after: int | None = None, limit: int = 50
) -> list[Notice]:
    """The city's notices, newest first."""
    query = select(Notice).where(Notice.city_id == city_id).order_by(Notice.id.desc()).limit(limit)
    if after is not None:
        query = query.where(Notice.id < after)
    return list((await session.scalars(query)).all())


async def stats(*, session: AsyncSession, notice: Notice) -> dict[str, int]:
    """Per notice: inboxes reached, pushed, opened, acted and the amount paid after opening."""
    from cityhub.notices.models import NoticeDelivery

    inbox = (
        await session.execute(
            select(
                func.count(),
                func.count(NoticeRecipient.opened_at),
                func.count(NoticeRecipient.acted_at),
                func.coalesce(func.sum(NoticeRecipient.acted_fen), 0),
            ).where(
                NoticeRecipient.city_id == notice.city_id, NoticeRecipient.notice_id == notice.id
            )
        )
    ).one()
    routes: dict[str, int] = dict(
        (
            await session.execute(
                select(
                    NoticeDelivery.status, func.count(func.distinct(NoticeDelivery.recipient_id))
                )
                .where(
                    NoticeDelivery.city_id == notice.city_id,
                    NoticeDelivery.notice_id == notice.id,
                )
                .group_by(NoticeDelivery.status)
            )
        ).all()
    )
    sent = int(routes.get("sent") or 0)
    other = NoticeDelivery.__table__.alias("other")
    failed_only = await session.scalar(
        select(func.count(func.distinct(NoticeDelivery.recipient_id))).where(
            NoticeDelivery.city_id == notice.city_id,
            NoticeDelivery.notice_id == notice.id,
            NoticeDelivery.status == "failed",
            ~exists().where(
                other.c.recipient_id == NoticeDelivery.recipient_id,
                other.c.status.in_(("pending", "sent")),
            ),
        )
    )
    return {
        "recipients": int(inbox[0]),
        "delivered": sent,
        "opened": int(inbox[1]),
        "acted": int(inbox[2]),
        "amount_fen": int(inbox[3] or 0),
        "failed": int(failed_only or 0),
        "capped": int(routes.get("capped") or 0),
    }
