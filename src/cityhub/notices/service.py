"""Government accounts, topics, templates, the city's push rules, notices and their figures.

Plain service functions (keyword-only, session first, never commit): the staff API, the
console and the CLI call the same ones. What a resident follows and their inbox are in
inbox.py, their preferences and saved biller accounts in preferences.py.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.notices.models import (
    Follow,
    GovAccount,
    Notice,
    NoticeDelivery,
    NoticeRecipient,
    NoticeSettings,
    NoticeTemplate,
    NoticeTopic,
)
from cityhub.notices.render import check_template, render
from cityhub.notices.schemas import AccountCreate, SettingsUpdate, TemplateCreate, TopicCreate
from cityhub.platform import timeline
from cityhub.platform.errors import Conflict, NotFound, Unprocessable
from cityhub.platform.texts import translations

if TYPE_CHECKING:
    from cityhub.cities.models import City

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
        names=translations(account_in.names),
        agency_names=translations(account_in.agency_names),
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
        city_id=account.city_id,
        account_id=account.id,
        code=topic_in.code,
        name=topic_in.name,
        names=translations(topic_in.names),
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


async def inbox_of(
    *, session: AsyncSession, resident_id: int, before: timeline.Before | None, limit: int
) -> list[timeline.Entry]:
    """The notices in the person's inbox, newest first, in every city (their history); a
    notice reaches the person, not one channel."""
    rows = await session.execute(
        select(NoticeRecipient, Notice)
        .join(
            Notice,
            (Notice.city_id == NoticeRecipient.city_id) & (Notice.id == NoticeRecipient.notice_id),
        )
        .where(
            NoticeRecipient.resident_id == resident_id,
            timeline.older_than("notice", NoticeRecipient.created_at, NoticeRecipient.id, before),
        )
        .order_by(NoticeRecipient.created_at.desc(), NoticeRecipient.id.desc())
        .limit(limit)
    )
    entries = []
    for recipient, notice in rows:
        texts = notice.texts or {}
        text: dict[str, Any] = texts.get("en") or next(iter(texts.values()), {})
        entries.append(
            timeline.Entry(
                kind="notice",
                row_id=recipient.id,
                at=recipient.created_at,
                city_id=recipient.city_id,
                channel_id=None,
                ref=notice.public_id,
                title=str(text.get("title") or notice.template),
                status="read" if recipient.read_at else "unread",
                details={"texts": {lang: t.get("title") for lang, t in texts.items()}},
            )
        )
    return entries


INBOX_ROUTE = "inbox"  # the hub's own inbox: every recipient has the notice there


async def delivered_by_route(*, session: AsyncSession, notice: Notice) -> dict[str, int]:
    """Per notice, each recipient counted once, under the route that delivered it: a route
    that sent it (`channel:<id>`, `sms`, `email`; the first by name if several did), else the
    inbox, where every recipient has it. The counts add up to the recipients."""
    where = (NoticeDelivery.city_id == notice.city_id, NoticeDelivery.notice_id == notice.id)
    first_sent = (
        select(NoticeDelivery.recipient_id, func.min(NoticeDelivery.route).label("route"))
        .where(*where, NoticeDelivery.status == "sent")
        .group_by(NoticeDelivery.recipient_id)
        .subquery()
    )
    rows = await session.execute(
        select(first_sent.c.route, func.count())
        .group_by(first_sent.c.route)
        .order_by(first_sent.c.route)
    )
    routes = {str(route): int(count) for route, count in rows.all()}
    recipients = await session.scalar(
        select(func.count()).where(
            NoticeRecipient.city_id == notice.city_id, NoticeRecipient.notice_id == notice.id
        )
    )
    routes[INBOX_ROUTE] = int(recipients or 0) - sum(routes.values())
    return routes
