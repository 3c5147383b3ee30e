"""The push routes: a signed batch to a channel's webhook, an SMS, an email.

Each runs as an outbox event of its own (queued by `delivery.push`) over the deliveries still
pending, and writes the outcome in `_settle`: sent, retried with backoff, or after
`ROUTE_ATTEMPTS` tries failed for good, when the recipient falls back to the next route.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from email.message import EmailMessage

import aiosmtplib
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox, webhooks
from cityhub.cities import service as cities
from cityhub.connectors.sms import SmsFailed, SmsGateway
from cityhub.identity import contact
from cityhub.identity import service as identity
from cityhub.identity.enums import ChannelStatus
from cityhub.identity.pii import Vault, mask_phone
from cityhub.notices import inboxes, links, preferences
from cityhub.notices.delivery import (
    BATCH_TOPIC,
    CHANNEL_BATCH,
    ROUTE_ATTEMPTS,
    SEND_EMAIL,
    SEND_SMS,
)
from cityhub.notices.models import (
    GovAccount,
    Notice,
    NoticeDelivery,
    NoticePreference,
    NoticeRecipient,
)
from cityhub.notices.render import in_language
from cityhub.notices.sending import PUSH
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform import metrics
from cityhub.platform.db import utcnow

log = structlog.get_logger("cityhub.notices")


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
        users = await contact.channel_user_ids(
            session=session, channel_id=channel_id, resident_ids=[r for _d, _n, r, _p in pending]
        )
        channel = await identity.get_channel(session=session, channel_id=channel_id)
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
            "link": links.link_for(channel, n, names[n.account_id][0]) if channel else None,
            "tracking": inboxes.tracking_of(vault, d.recipient_id),
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
    """The (city slug, account code) of each account."""
    rows = (
        await session.execute(
            select(GovAccount.id, GovAccount.city_id, GovAccount.code).where(
                GovAccount.id.in_(account_ids)
            )
        )
    ).all()
    slugs: dict[int, str] = {}
    for city_id in {c for _i, c, _a in rows}:
        city = await cities.get_city(session=session, city_id=city_id)
        assert city is not None
        slugs[city_id] = city.slug
    return {i: (slugs[c], a) for i, c, a in rows}


def _open_link(ctx: HandlerContext, vault: Vault, recipient_id: int) -> str:
    base = ctx.settings.base_url.rstrip("/")
    return f"{base}/v1/notices/open/{inboxes.tracking_of(vault, recipient_id)}"


@registry.on(SEND_SMS, "notices.sms")
async def send_sms(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Text each pending recipient through the SMS gateway (it dedupes on our reference)."""
    pending = await _pending(ctx, [int(i) for i in event.payload["deliveries"]])
    if not pending:
        return
    async with ctx.db.unit_of_work() as session:
        phones = await contact.encrypted_phones(
            session=session, resident_ids=[r for _d, _n, r, _p in pending]
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
            f"{preferences.unsubscribe_token(vault, resident_id)}"
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
