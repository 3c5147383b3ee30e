"""Pushing inbox entries out: the resident's channel, then SMS, then email.

`notice.push` picks, for each recipient of a chunk, the first route not tried yet: the channel
the resident prefers, their other channels (active, granted the notice's city, with the
resident's live `notices` consent, and a webhook URL), SMS (urgent or transactional notices,
unless the resident turned it off) and email (when SMTP is set and the resident gave an
address). One route at a time: a recipient with a route pending or sent gets nothing more; a
route is only followed by the next once it failed for good, so nobody gets a notice twice.
Non-urgent notices wait out the city's quiet hours, and a recipient over the city's daily
cap is not pushed at all (the inbox has it).

Routes run as outbox events of their own and retry with backoff; after `ROUTE_ATTEMPTS`
failed tries the route is failed and the recipient falls back to the next one. A recipient
whose last route failed with nothing left is a dead letter (`cityhub notices dead-letters`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import structlog
from sqlalchemy import Select, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox, webhooks
from cityhub.cities.models import City, Grant
from cityhub.connectors.sms import SmsFailed, SmsGateway
from cityhub.identity.enums import ChannelStatus
from cityhub.identity.models import Channel, ChannelUser, Consent, Resident
from cityhub.identity.pii import Vault, mask_phone
from cityhub.notices import service
from cityhub.notices.models import (
    GovAccount,
    Notice,
    NoticeDelivery,
    NoticePreference,
    NoticeRecipient,
    NoticeSettings,
    PushCount,
)
from cityhub.notices.render import in_language
from cityhub.notices.sending import PUSH
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform import metrics
from cityhub.platform.config import Settings
from cityhub.platform.db import utcnow

log = structlog.get_logger("cityhub.notices")

CHANNEL_BATCH = "notice.channel_batch"
SEND_SMS = "notice.sms"
SEND_EMAIL = "notice.email"
BATCH_TOPIC = "notices.batch"  # the `type` of the webhook a channel receives
ROUTE_ATTEMPTS = 4
BATCH_SIZE = 500


def quiet_wait(timezone: str, rules: NoticeSettings, now: dt.datetime) -> dt.timedelta | None:
    """How long until the city's quiet hours end, if they hold now (None: push now)."""
    start, end = rules.quiet_start, rules.quiet_end
    if start == end:
        return None
    local = now.astimezone(ZoneInfo(timezone))
    minute = local.hour * 60 + local.minute
    quiet = (start <= minute or minute < end) if start > end else (start <= minute < end)
    if not quiet:
        return None
    ends = local.replace(hour=end // 60, minute=end % 60, second=0, microsecond=0)
    if ends <= local:
        ends += dt.timedelta(days=1)
    return ends - local


async def take_push_slot(
    *, session: AsyncSession, city_id: int, resident_id: int, day: dt.date, cap: int
) -> bool:
    """Count one push against the resident's daily cap; False when the cap is reached."""
    if cap <= 0:
        return False
    taken = await session.execute(
        update(PushCount)
        .where(
            PushCount.city_id == city_id,
            PushCount.resident_id == resident_id,
            PushCount.day == day,
            PushCount.pushes < cap,
        )
        .values(pushes=PushCount.pushes + 1)
    )
    if taken.rowcount == 1:  # type: ignore[attr-defined]
        return True
    counted = await session.scalar(
        select(PushCount.id).where(
            PushCount.city_id == city_id,
            PushCount.resident_id == resident_id,
            PushCount.day == day,
        )
    )
    if counted is not None:
        return False
    session.add(PushCount(city_id=city_id, resident_id=resident_id, day=day, pushes=1))
    await session.flush()
    return True


async def _routes(
    *,
    session: AsyncSession,
    settings: Settings,
    notice: Notice,
    residents: Select[tuple[int]],
) -> dict[int, list[str]]:
    """The routes each resident can be reached on, in the order they are tried."""
    prefs = {
        p.resident_id: p
        for p in (
            await session.scalars(
                select(NoticePreference).where(NoticePreference.resident_id.in_(residents))
            )
        ).all()
    }
    consented = exists().where(
        Consent.resident_id == ChannelUser.resident_id,
        Consent.channel_id == ChannelUser.channel_id,
        Consent.scope == "notices",
        Consent.withdrawn_at.is_(None),
    )
    granted = select(Grant.channel_id).where(Grant.city_id == notice.city_id)
    links = await session.execute(
        select(ChannelUser.resident_id, ChannelUser.channel_id)
        .join(Channel, Channel.id == ChannelUser.channel_id)
        .where(
            ChannelUser.resident_id.in_(residents),
            Channel.status == ChannelStatus.ACTIVE,
            Channel.webhook_url.is_not(None),
            ChannelUser.channel_id.in_(granted),
            consented,
        )
        .order_by(ChannelUser.resident_id, ChannelUser.channel_id)
        .distinct()
    )
    routes: dict[int, list[str]] = defaultdict(list)
    for resident_id, channel_id in links.all():
        routes[resident_id].append(f"channel:{channel_id}")
    for resident_id, pref in prefs.items():
        mine = f"channel:{pref.channel_id}"
        if pref.channel_id and mine in routes[resident_id]:
            routes[resident_id].remove(mine)
            routes[resident_id].insert(0, mine)
    if notice.urgent or notice.kind == "transactional":
        phones = await session.scalars(
            select(Resident.id).where(Resident.id.in_(residents), Resident.phone_enc.is_not(None))
        )
        for resident_id in phones.all():
            found = prefs.get(resident_id)
            if found is None or found.sms:
                routes[resident_id].append("sms")
    if settings.smtp_host:
        for resident_id, pref in prefs.items():
            if pref.email and pref.email_enc is not None:
                routes[resident_id].append("email")
    return {r: v for r, v in routes.items() if v}


@registry.on(PUSH, "notices.push")
async def push(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Choose a route for each recipient of a chunk and queue the sends."""
    session = ctx.session
    notice = await session.get(Notice, int(event.payload["notice_id"]))
    if notice is None or notice.city_id != event.city_id:
        return
    city = await session.get(City, notice.city_id)
    assert city is not None
    rules = await service.settings_of(session=session, city_id=city.id)
    now = utcnow()
    if not notice.urgent:
        wait = quiet_wait(city.timezone, rules, now)
        if wait is not None:
            await outbox.enqueue(
                session=session, topic=PUSH, city_id=city.id, payload=event.payload, delay=wait
            )
            return
    chunk = select(NoticeRecipient.id, NoticeRecipient.resident_id).where(
        NoticeRecipient.city_id == city.id, NoticeRecipient.notice_id == notice.id
    )
    if "recipients" in event.payload:
        chunk = chunk.where(NoticeRecipient.id.in_([int(r) for r in event.payload["recipients"]]))
    else:
        chunk = chunk.where(NoticeRecipient.resident_id > int(event.payload["lo"]))
        if event.payload.get("hi") is not None:
            chunk = chunk.where(NoticeRecipient.resident_id <= int(event.payload["hi"]))
    routes = await _routes(
        session=session,
        settings=ctx.settings,
        notice=notice,
        residents=chunk.with_only_columns(NoticeRecipient.resident_id),
    )
    if not routes:
        return
    recipients = {rid: res for rid, res in (await session.execute(chunk)).all() if res in routes}
    tried: dict[int, dict[str, str]] = defaultdict(dict)
    rows = await session.execute(
        select(NoticeDelivery.recipient_id, NoticeDelivery.route, NoticeDelivery.status).where(
            NoticeDelivery.city_id == city.id,
            NoticeDelivery.notice_id == notice.id,
            NoticeDelivery.recipient_id.in_(chunk.with_only_columns(NoticeRecipient.id)),
        )
    )
    for recipient_id, route, status in rows.all():
        tried[recipient_id][route] = status
    day = service.local_day(city, now)
    new: list[NoticeDelivery] = []
    for recipient_id, resident_id in recipients.items():
        done = tried.get(recipient_id, {})
        if any(s in ("pending", "sent", "capped") for s in done.values()):
            continue  # on its way, arrived, or over the cap: never a second route
        next_route = next((r for r in routes[resident_id] if r not in done), None)
        if next_route is None:
            continue  # every route failed: a dead letter
        route = next_route
        if not done and not notice.urgent:
            if not await take_push_slot(
                session=session,
                city_id=city.id,
                resident_id=resident_id,
                day=day,
                cap=rules.daily_cap,
            ):
                route, status = "cap", "capped"
                session.add(
                    NoticeDelivery(
                        city_id=city.id,
                        notice_id=notice.id,
                        recipient_id=recipient_id,
                        route=route,
                        status=status,
                    )
                )
                continue
        new.append(
            NoticeDelivery(
                city_id=city.id, notice_id=notice.id, recipient_id=recipient_id, route=route
            )
        )
    session.add_all(new)
    await session.flush()
    by_route: dict[str, list[int]] = defaultdict(list)
    for delivery in new:
        by_route[delivery.route].append(delivery.id)
    for route, ids in by_route.items():
        for start in range(0, len(ids), BATCH_SIZE):
            part = ids[start : start + BATCH_SIZE]
            payload: dict[str, Any] = {"deliveries": part}
            if route.startswith("channel:"):
                topic = CHANNEL_BATCH
                payload.update(channel_id=int(route.split(":")[1]), batch=str(uuid.uuid4()))
            else:
                topic = SEND_SMS if route == "sms" else SEND_EMAIL
            await outbox.enqueue(session=session, topic=topic, city_id=city.id, payload=payload)


# -- the routes ----------------------------------------------------------------------------


async def _pending(
    ctx: HandlerContext, ids: list[int]
) -> list[tuple[NoticeDelivery, Notice, int, NoticePreference | None]]:
    """The deliveries still pending, with their notice, resident and preferences."""
    async with ctx.db.unit_of_work() as session:
        rows = await session.execute(
            select(NoticeDelivery, Notice, NoticeRecipient.resident_id, NoticePreference)
            .join(Notice, Notice.id == NoticeDelivery.notice_id)
            .join(NoticeRecipient, NoticeRecipient.id == NoticeDelivery.recipient_id)
            .outerjoin(
                NoticePreference, NoticePreference.resident_id == NoticeRecipient.resident_id
            )
            .where(NoticeDelivery.id.in_(ids), NoticeDelivery.status == "pending")
            .order_by(NoticeDelivery.id)
        )
        return [(d, n, r, p) for d, n, r, p in rows.all()]


async def _settle(
    ctx: HandlerContext,
    event: OutboxEvent,
    deliveries: dict[int, NoticeDelivery],
    *,
    sent: list[int],
    retry: dict[int, str],
    failed: dict[int, str],
) -> None:
    """Write the outcome: sent ones are done, retried ones go again later, failed ones fall
    back to the next route."""
    session = ctx.session
    attempt = int(event.payload.get("attempt", 1))
    if retry and attempt >= ROUTE_ATTEMPTS:
        failed = {**failed, **retry}
        retry = {}
    now = utcnow()
    for ident, outcome in (
        [(i, "sent") for i in sent]
        + [(i, "failed") for i in failed]
        + [(i, "retry") for i in retry]
    ):
        metrics.NOTICE_DELIVERIES.labels(deliveries[ident].route, outcome).inc()
    if sent:
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id.in_(sent), NoticeDelivery.status == "pending")
            .values(status="sent", sent_at=now, attempts=attempt)
        )
    for ident, error in {**retry, **failed}.items():
        await session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id == ident, NoticeDelivery.status == "pending")
            .values(
                status="failed" if ident in failed else "pending",
                attempts=attempt,
                last_error=error[:2000],
            )
        )
    if retry:
        await outbox.enqueue(
            session=session,
            topic=event.topic,
            city_id=event.city_id,
            payload={**event.payload, "deliveries": sorted(retry), "attempt": attempt + 1},
            delay=dt.timedelta(seconds=outbox.backoff(attempt, base=2.0, cap=300.0)),
        )
    fallback: dict[int, list[int]] = defaultdict(list)
    for ident in failed:
        fallback[deliveries[ident].notice_id].append(deliveries[ident].recipient_id)
    for notice_id, recipients in fallback.items():
        await outbox.enqueue(
            session=session,
            topic=PUSH,
            city_id=event.city_id,
            payload={"notice_id": notice_id, "recipients": sorted(recipients)},
        )


@registry.on(CHANNEL_BATCH, "notices.channel_batch")
async def channel_batch(ctx: HandlerContext, event: OutboxEvent) -> None:
    """POST a signed batch of notices to a channel's webhook (the webhooks' signer and log)."""
    channel_id = int(event.payload["channel_id"])
    pending = await _pending(ctx, [int(i) for i in event.payload["deliveries"]])
    if not pending:
        return
    async with ctx.db.unit_of_work() as session:
        users = dict(
            (
                await session.execute(
                    select(ChannelUser.resident_id, ChannelUser.channel_user_id).where(
                        ChannelUser.channel_id == channel_id,
                        ChannelUser.resident_id.in_([r for _d, _n, r, _p in pending]),
                    )
                )
            ).all()
        )
        channel = await session.get(Channel, channel_id)
        names = await _names(session, {n.account_id for _d, n, _r, _p in pending})
    vault = Vault.from_settings(ctx.settings)
    items = [
        {
            "delivery": d.id,
            "user_id": users.get(r),
            "notice": n.public_id,
            "city": names[n.account_id][0],
            "account": names[n.account_id][1],
            "urgent": n.urgent,
            "texts": n.texts,
            "language": p.language if p else "zh-Hans",
            "link": n.link,
            "tracking": service.tracking_of(vault, d.recipient_id),
        }
        for d, n, r, p in pending
    ]
    deliveries = {d.id: d for d, _n, _r, _p in pending}
    envelope = OutboxEvent(
        event_id=str(event.payload["batch"]),  # the same id on every retry: channels dedupe
        topic=BATCH_TOPIC,
        created_at=event.created_at,
        payload={"channel_id": channel_id, "batch": event.payload["batch"], "notices": items},
    )
    if channel is None or not channel.webhook_url or channel.status != ChannelStatus.ACTIVE:
        error = "the channel no longer takes webhooks"
        await _settle(
            ctx, event, deliveries, sent=[], retry={}, failed=dict.fromkeys(deliveries, error)
        )
        return
    try:
        await webhooks.deliver(ctx, envelope)
    except webhooks.WebhookFailed as exc:
        await _settle(
            ctx, event, deliveries, sent=[], retry=dict.fromkeys(deliveries, str(exc)), failed={}
        )
        return
    await _settle(ctx, event, deliveries, sent=list(deliveries), retry={}, failed={})


async def _names(session: AsyncSession, account_ids: set[int]) -> dict[int, tuple[str, str]]:
    rows = await session.execute(
        select(GovAccount.id, City.slug, GovAccount.code)
        .join(City, City.id == GovAccount.city_id)
        .where(GovAccount.id.in_(account_ids))
    )
    return {i: (c, a) for i, c, a in rows.all()}


def _open_link(ctx: HandlerContext, vault: Vault, recipient_id: int) -> str:
    base = ctx.settings.base_url.rstrip("/")
    return f"{base}/v1/notices/open/{service.tracking_of(vault, recipient_id)}"


@registry.on(SEND_SMS, "notices.sms")
async def send_sms(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Text each pending recipient through the SMS gateway (it dedupes on our reference)."""
    pending = await _pending(ctx, [int(i) for i in event.payload["deliveries"]])
    if not pending:
        return
    async with ctx.db.unit_of_work() as session:
        phones = dict(
            (
                await session.execute(
                    select(Resident.id, Resident.phone_enc).where(
                        Resident.id.in_([r for _d, _n, r, _p in pending])
                    )
                )
            ).all()
        )
    vault = Vault.from_settings(ctx.settings)
    gateway = SmsGateway.from_settings(ctx.settings)
    sent: list[int] = []
    retry: dict[int, str] = {}
    failed: dict[int, str] = {}
    for delivery, notice, resident_id, pref in pending:
        blob = phones.get(resident_id)
        if blob is None:
            failed[delivery.id] = "no phone number"
            continue
        phone = vault.decrypt(blob)
        text = in_language(notice.texts, pref.language if pref else "zh-Hans")
        message = f"{text['title']}: {text['body']} {_open_link(ctx, vault, delivery.recipient_id)}"
        try:
            await gateway.send(ctx.http, phone, message[:1000], ref=f"notice-{delivery.id}")
        except SmsFailed as exc:
            (retry if exc.retryable else failed)[delivery.id] = exc.detail
            log.warning("notice_sms_failed", to=mask_phone(phone), retryable=exc.retryable)
            continue
        sent.append(delivery.id)
    deliveries = {d.id: d for d, _n, _r, _p in pending}
    await _settle(ctx, event, deliveries, sent=sent, retry=retry, failed=failed)


@registry.on(SEND_EMAIL, "notices.email")
async def send_email(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Email each pending recipient over SMTP (at least once: the Message-ID is stable)."""
    pending = await _pending(ctx, [int(i) for i in event.payload["deliveries"]])
    if not pending:
        return
    settings = ctx.settings
    vault = Vault.from_settings(settings)
    sent: list[int] = []
    retry: dict[int, str] = {}
    failed: dict[int, str] = {}
    for delivery, notice, resident_id, pref in pending:
        if pref is None or pref.email_enc is None or not pref.email or not settings.smtp_host:
            failed[delivery.id] = "no email address, or email turned off"
            continue
        text = in_language(notice.texts, pref.language)
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = vault.decrypt(pref.email_enc)
        message["Subject"] = text["title"]
        message["Message-ID"] = f"<notice-{delivery.id}@cityhub>"
        unsubscribe = (
            f"{settings.base_url.rstrip('/')}/v1/notices/unsubscribe/"
            f"{service.unsubscribe_token(vault, resident_id)}"
        )
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message.set_content(
            f"{text['body']}\n\n{_open_link(ctx, vault, delivery.recipient_id)}\n\n"
            f"Unsubscribe: {unsubscribe}\n"
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            (failed if permanent else retry)[delivery.id] = f"SMTP {exc.code}: {exc.message}"
            continue
        except (aiosmtplib.SMTPException, OSError) as exc:
            retry[delivery.id] = f"{type(exc).__name__}: {exc}"
            continue
        sent.append(delivery.id)
    deliveries = {d.id: d for d, _n, _r, _p in pending}
    await _settle(ctx, event, deliveries, sent=sent, retry=retry, failed=failed)


async def dead_letters(
    *, session: AsyncSession, city_id: int, after: int | None = None, limit: int = 50
) -> list[tuple[NoticeDelivery, str]]:
    """Failed deliveries whose recipient got nothing on any route (with the notice's id)."""
    other = NoticeDelivery.__table__.alias("other")
    alive = exists().where(
        and_(
            other.c.recipient_id == NoticeDelivery.recipient_id,
            other.c.status.in_(("pending", "sent")),
        )
    )
    query = (
        select(NoticeDelivery, Notice.public_id)
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .where(NoticeDelivery.city_id == city_id, NoticeDelivery.status == "failed", ~alive)
        .order_by(NoticeDelivery.id.desc())
        .limit(limit)
    )
    if after is not None:
        query = query.where(NoticeDelivery.id < after)
    return [(d, p) for d, p in (await session.execute(query)).all()]
