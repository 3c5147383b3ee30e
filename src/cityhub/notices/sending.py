"""Sending a notice: broadcast, targeted or transactional, and the fan-out to inboxes.

A broadcast or targeted notice is written with a `notice.fanout` outbox event. The fan-out
takes the audience in chunks of residents in id order: each chunk is one `INSERT ... SELECT`
into the inboxes, committed together with the outbox's record of that chunk and the event of
the next chunk, so a worker killed mid-way resumes at the chunk it was on and no inbox gets a
notice twice (the unique key (notice, resident) stands behind it). Each chunk also queues the
push of its recipients (`notice.push`, see delivery.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.notices import service
from cityhub.notices.builtin import render_builtin
from cityhub.notices.models import (
    Follow,
    GovAccount,
    Notice,
    NoticeRecipient,
    SavedBillerAccount,
)
from cityhub.notices.render import render
from cityhub.notices.schemas import NoticeCreate
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

FANOUT = "notice.fanout"
PUSH = "notice.push"
FANOUT_CHUNK = 20_000  # inbox rows per transaction (CITYHUB_NOTICE_FANOUT_CHUNK)
SYSTEM_ACCOUNT = "city-services"
SYSTEM_ACCOUNT_NAMES = {"zh-Hans": "城市服务", "zh-Hant": "城市服務", "en": "City services"}


def _public_id() -> str:
    return f"ntc_{uuid.uuid4().hex[:24]}"


async def _sent_with(session: AsyncSession, city_id: int, dedupe_key: str) -> Notice | None:
    found: Notice | None = await session.scalar(
        select(Notice).where(Notice.city_id == city_id, Notice.dedupe_key == dedupe_key)
    )
    return found


# Raises unless the sender may speak for this provider's service (None: the city's own
# account); `deps.require_provider` for provider staff.
SenderGuard = Callable[["Service | None"], None]


async def account_service(*, session: AsyncSession, account: GovAccount) -> Service | None:
    """The provider's service an account speaks for (None: the city's own account)."""
    if account.service_id is None:
        return None
    return await cities.get_service(
        session=session, city_id=account.city_id, service_id=account.service_id
    )


async def create(
    *,
    session: AsyncSession,
    city: City,
    actor: audit.Actor,
    notice_in: NoticeCreate,
    dedupe_key: str | None = None,
    guard: SenderGuard | None = None,
) -> Notice:
    """A broadcast or targeted notice from a template (422 naming a missing or bad value),
    audited; the API's, the console's and the CLI's send. With `dedupe_key`, a second send
    (the console's form sent twice, even at once) answers the first notice; `guard` sees the
    account's service and the audience's biller."""
    if dedupe_key is not None and (sent := await _sent_with(session, city.id, dedupe_key)):
        return sent
    account = await service.get_account_or_raise(
        session=session, city_id=city.id, code=notice_in.account
    )
    if guard is not None:
        guard(await account_service(session=session, account=account))
    template = await service.get_template_or_raise(
        session=session, account=account, code=notice_in.template
    )
    texts = render(template.placeholders, template.texts, notice_in.values)
    audience: dict[str, Any]
    if notice_in.kind == "broadcast":
        if notice_in.topic:
            await service.require_topic(session=session, account=account, code=notice_in.topic)
        audience = {"followers": account.code, "topic": notice_in.topic}
    else:
        assert notice_in.audience is not None
        biller = await cities.get_service_or_raise(
            session=session, city_id=city.id, code=notice_in.audience.service
        )
        if guard is not None:
            guard(biller)
        audience = {
            "service": biller.code,
            "service_id": biller.id,
            "district": notice_in.audience.district,
        }
    notice = Notice(
        city_id=city.id,
        public_id=_public_id(),
        account_id=account.id,
        kind=notice_in.kind,
        urgent=notice_in.urgent,
        template=template.code,
        texts=texts,
        audience=audience,
        ref=notice_in.ref,
        link=notice_in.link,
        status="fanning",
        created_by=actor.id,
        dedupe_key=dedupe_key,
    )
    try:
        async with session.begin_nested():
            session.add(notice)
            await session.flush()
    except IntegrityError:  # the same send at once (PostgreSQL waited on the key): it stands
        sent = None if dedupe_key is None else await _sent_with(session, city.id, dedupe_key)
        if sent is None:
            raise
        return sent
    await outbox.enqueue(
        session=session, topic=FANOUT, city_id=city.id, payload={"notice_id": notice.id, "after": 0}
    )
    await audit.append(
        session=session,
        actor=actor,
        action="notice.send",
        object_type="notice",
        object_id=notice.public_id,
        city_id=city.id,
        details={"account": account.code, "kind": notice.kind, "audience": audience},
    )
    return notice


async def system_account(*, session: AsyncSession, city_id: int) -> GovAccount:
    """The city's own account, for the hub's reminders and results (made on first use)."""
    found = await session.scalar(
        select(GovAccount).where(GovAccount.city_id == city_id, GovAccount.code == SYSTEM_ACCOUNT)
    )
    if found is None:
        found = GovAccount(
            city_id=city_id, code=SYSTEM_ACCOUNT, name="City services", agency="CityHub",
            names=dict(SYSTEM_ACCOUNT_NAMES),  # an inbox in any language names it in that one
        )  # fmt: skip
        session.add(found)
        await session.flush()
    return found


async def send_to_residents(
    *,
    session: AsyncSession,
    city_id: int,
    account: GovAccount,
    template: str,
    values: dict[str, Any],
    resident_ids: list[int],
    dedupe_key: str,
    ref: str | None = None,
    link: str | None = None,
    urgent: bool = False,
) -> Notice | None:
    """A transactional notice (built-in template) to these residents, once per `dedupe_key`:
    None when it was sent before."""
    sent = await session.scalar(
        select(Notice.id).where(Notice.city_id == city_id, Notice.dedupe_key == dedupe_key)
    )
    if sent is not None or not resident_ids:
        return None
    now = utcnow()
    notice = Notice(
        city_id=city_id,
        public_id=_public_id(),
        account_id=account.id,
        kind="transactional",
        urgent=urgent,
        template=template,
        texts=render_builtin(template, values),
        audience={"residents": len(resident_ids)},
        ref=ref,
        link=link,
        dedupe_key=dedupe_key,
        status="sent",
        recipients=len(set(resident_ids)),
        created_by="cityhub",
        fanned_at=now,
    )
    session.add(notice)
    await session.flush()
    ordered = sorted(set(resident_ids))
    session.add_all(
        NoticeRecipient(city_id=city_id, notice_id=notice.id, resident_id=r, created_at=now)
        for r in ordered
    )
    await session.flush()
    for start in range(0, len(ordered), FANOUT_CHUNK):
        part = ordered[start : start + FANOUT_CHUNK]
        await outbox.enqueue(
            session=session,
            topic=PUSH,
            city_id=city_id,
            payload={"notice_id": notice.id, "lo": part[0] - 1, "hi": part[-1]},
        )
    return notice


def audience_of(notice: Notice) -> Select[int]:
    """The residents a broadcast or targeted notice goes to, as a query of resident ids."""
    if "followers" in notice.audience:
        query = select(Follow.resident_id).where(
            Follow.city_id == notice.city_id, Follow.account_id == notice.account_id
        )
        topic = notice.audience.get("topic")
        if topic:  # a topic's followers, and those who follow the whole account
            query = query.where(Follow.topic.in_(["", topic]))
        return query
    query = select(SavedBillerAccount.resident_id).where(
        SavedBillerAccount.city_id == notice.city_id,
        SavedBillerAccount.service_id == int(notice.audience["service_id"]),
    )
    if notice.audience.get("district"):
        query = query.where(SavedBillerAccount.district == notice.audience["district"])
    return query


@registry.on(FANOUT, "notices.fanout")
async def fanout(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Write one chunk of a notice's audience into their inboxes, and queue the next chunk."""
    session = ctx.session
    notice = await session.get(Notice, int(event.payload["notice_id"]))
    if notice is None or notice.city_id != event.city_id or notice.status != "fanning":
        return
    after = int(event.payload["after"])
    audience = audience_of(notice)
    column = audience.selected_columns[0]
    # The last resident id of this chunk (None: the rest of the audience fits in it).
    bound = await session.scalar(
        audience.where(column > after)
        .order_by(column)
        .offset(ctx.settings.notice_fanout_chunk - 1)
        .limit(1)
    )
    chunk = audience.where(column > after)
    if bound is not None:
        chunk = chunk.where(column <= bound)
    now = utcnow()
    rows = chunk.with_only_columns(
        literal(notice.city_id),
        literal(notice.id),
        column,
        literal(now, NoticeRecipient.created_at.type),
    ).distinct()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(NoticeRecipient)
        .from_select(["city_id", "notice_id", "resident_id", "created_at"], rows)
        .on_conflict_do_nothing()
    )
    written = (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
    values: dict[str, Any] = {"recipients": Notice.recipients + max(int(written or 0), 0)}
    if bound is None:
        values.update(status="sent", fanned_at=now)
    await session.execute(update(Notice).where(Notice.id == notice.id).values(**values))
    await outbox.enqueue(
        session=session,
        topic=PUSH,
        city_id=notice.city_id,
        payload={"notice_id": notice.id, "lo": after, "hi": bound},
    )
    if bound is not None:
        await outbox.enqueue(
            session=session,
            topic=FANOUT,
            city_id=notice.city_id,
            payload={"notice_id": notice.id, "after": bound},
        )
