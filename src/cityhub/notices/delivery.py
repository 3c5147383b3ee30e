"""Pushing inbox entries out: the resident's channel, then SMS, then email.

`notice.push` picks, for each recipient of a chunk, the first route not tried yet: the channel
the resident prefers, their other channels (active, granted the notice's city, with the
resident's live `notices` consent, and a webhook URL), SMS (urgent or transactional notices,
unless the resident turned it off) and email (when SMTP is set and the resident gave an
address). One route at a time: a recipient with a route pending or sent gets nothing more; a
route is only followed by the next once it failed for good, so nobody gets a notice twice.
Non-urgent notices wait out the city's quiet hours, and a recipient over the city's daily
cap is not pushed at all (the inbox has it).

Routes run as outbox events of their own (push_routes.py) and retry with backoff; after
`ROUTE_ATTEMPTS` failed tries the route is failed and the recipient falls back to the next
one. A recipient whose last route failed with nothing left is a dead letter (`cityhub notices
dead-letters`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.cities import service as cities
from cityhub.identity import contact
from cityhub.notices import service
from cityhub.notices.models import (
    Notice,
    NoticeDelivery,
    NoticePreference,
    NoticeRecipient,
    NoticeSettings,
    PushCount,
)
from cityhub.notices.sending import PUSH
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform.config import Settings
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.cities.models import City

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
    resident_ids: list[int],
) -> dict[int, list[str]]:
    """The routes each resident can be reached on, in the order they are tried (`residents`
    is the chunk's query of resident ids, `resident_ids` what it found)."""
    prefs = {
        p.resident_id: p
        for p in (
            await session.scalars(
                select(NoticePreference).where(NoticePreference.resident_id.in_(residents))
            )
        ).all()
    }
    granted = await cities.granted_channel_ids(session=session, city_id=notice.city_id)
    links = await contact.reachable_by_webhook(
        session=session, resident_ids=resident_ids, channel_ids=sorted(granted), scope="notices"
    )
    routes: dict[int, list[str]] = defaultdict(list)
    for resident_id, channel_id in links:
        routes[resident_id].append(f"channel:{channel_id}")
    for resident_id, pref in prefs.items():
        mine = f"channel:{pref.channel_id}"
        if pref.channel_id and mine in routes[resident_id]:
            routes[resident_id].remove(mine)
            routes[resident_id].insert(0, mine)
    if notice.urgent or notice.kind == "transactional":
        phones = await contact.encrypted_phones(session=session, resident_ids=resident_ids)
        for resident_id in sorted(phones):
            found = prefs.get(resident_id)
            if found is None or found.sms:
                routes[resident_id].append("sms")
    if settings.smtp_host:
        for resident_id, pref in prefs.items():
            if pref.email and pref.email_enc is not None:
                routes[resident_id].append("email")
    return {r: v for r, v in routes.items() if v}


async def _wait_for_quiet_hours(
    session: AsyncSession, event: OutboxEvent, city: City, rules: NoticeSettings, now: dt.datetime
) -> bool:
    """Queue the push again for when the city's quiet hours end, if they hold now; whether it
    was put off."""
    wait = quiet_wait(city.timezone, rules, now)
    if wait is None:
        return False
    await outbox.enqueue(
        session=session, topic=PUSH, city_id=city.id, payload=event.payload, delay=wait
    )
    return True


def _chunk(notice: Notice, payload: dict[str, Any]) -> Select[int, int]:
    """The (recipient, resident) ids of the event's chunk: the recipients it names, or the
    residents in its id range."""
    chunk = select(NoticeRecipient.id, NoticeRecipient.resident_id).where(
        NoticeRecipient.city_id == notice.city_id, NoticeRecipient.notice_id == notice.id
    )
    if "recipients" in payload:
        return chunk.where(NoticeRecipient.id.in_([int(r) for r in payload["recipients"]]))
    chunk = chunk.where(NoticeRecipient.resident_id > int(payload["lo"]))
    if payload.get("hi") is not None:
        chunk = chunk.where(NoticeRecipient.resident_id <= int(payload["hi"]))
    return chunk


async def _tried(
    session: AsyncSession, notice: Notice, chunk: Select[int, int]
) -> dict[int, dict[str, str]]:
    """The routes already tried for each recipient of the chunk, with their status."""
    tried: dict[int, dict[str, str]] = defaultdict(dict)
    rows = await session.execute(
        select(NoticeDelivery.recipient_id, NoticeDelivery.route, NoticeDelivery.status).where(
            NoticeDelivery.city_id == notice.city_id,
            NoticeDelivery.notice_id == notice.id,
            NoticeDelivery.recipient_id.in_(chunk.with_only_columns(NoticeRecipient.id)),
        )
    )
    for recipient_id, route, status in rows.all():
        tried[recipient_id][route] = status
    return tried


async def _next_routes(
    session: AsyncSession,
    notice: Notice,
    rules: NoticeSettings,
    day: dt.date,
    recipients: dict[int, int],
    routes: dict[int, list[str]],
    tried: dict[int, dict[str, str]],
) -> list[NoticeDelivery]:
    """A delivery on its next route for each recipient with nothing on its way; the first
    push of a non-urgent notice counts against the daily cap (over it, the recipient is
    `capped`)."""
    new: list[NoticeDelivery] = []
    for recipient_id, resident_id in recipients.items():
        done = tried.get(recipient_id, {})
        if any(s in ("pending", "sent", "capped") for s in done.values()):
            continue  # on its way, arrived, or over the cap: never a second route
        route = next((r for r in routes[resident_id] if r not in done), None)
        if route is None:
            continue  # every route failed: a dead letter
        key = {"city_id": notice.city_id, "notice_id": notice.id, "recipient_id": recipient_id}
        if not done and not notice.urgent:
            if not await take_push_slot(
                session=session,
                city_id=notice.city_id,
                resident_id=resident_id,
                day=day,
                cap=rules.daily_cap,
            ):
                session.add(NoticeDelivery(**key, route="cap", status="capped"))
                continue
        new.append(NoticeDelivery(**key, route=route))
    session.add_all(new)
    await session.flush()
    return new


async def _queue_sends(session: AsyncSession, city_id: int, new: list[NoticeDelivery]) -> None:
    """One outbox event per route and batch of deliveries (a channel's with its batch id)."""
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
            await outbox.enqueue(session=session, topic=topic, city_id=city_id, payload=payload)


@registry.on(PUSH, "notices.push")
async def push(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Choose a route for each recipient of a chunk and queue the sends."""
    session = ctx.session
    notice = await session.get(Notice, int(event.payload["notice_id"]))
    if notice is None or notice.city_id != event.city_id:
        return
    city = await cities.get_city(session=session, city_id=notice.city_id)
    assert city is not None
    rules = await service.settings_of(session=session, city_id=city.id)
    now = utcnow()
    if not notice.urgent and await _wait_for_quiet_hours(session, event, city, rules, now):
        return
    chunk = _chunk(notice, event.payload)
    recipients = dict((await session.execute(chunk)).all())
    routes = await _routes(
        session=session,
        settings=ctx.settings,
        notice=notice,
        residents=chunk.with_only_columns(NoticeRecipient.resident_id),
        resident_ids=sorted(set(recipients.values())),
    )
    if not routes:
        return
    recipients = {rid: res for rid, res in recipients.items() if res in routes}
    tried = await _tried(session, notice, chunk)
    day = service.local_day(city, now)
    new = await _next_routes(session, notice, rules, day, recipients, routes, tried)
    await _queue_sends(session, city.id, new)


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
