"""Complaints filed, read, moved along and escalated.

Every change of status is one conditional UPDATE (from the statuses it may come from), so two
workers or a staff member and the escalation job never both move a complaint; each change is
stored with its time and actor (`ComplaintEvent`), audited, told to the channel by webhook
(`complaint.updated`) and to the resident behind the channel's user, when the hub knows them,
by a notice in their inbox (one per step, in every language). A `paid_twice` complaint the
ledger proves is resolved by the hub: billing refunds the second payment, once however often
it is filed. The others are assigned to the biller's provider staff (the city's staff when the
service has no provider), who resolve them (`decisions`: staff also reassign and escalate);
any still open at its type's deadline is escalated by the job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.billing import service as billing
from cityhub.cities import service as cities
from cityhub.complaints.models import (
    OPEN,
    Complaint,
    ComplaintEvent,
    ComplaintStatus,
    ComplaintType,
)
from cityhub.complaints.schemas import (
    ComplaintCreate,
    ComplaintEventRead,
    ComplaintRead,
)
from cityhub.identity import audit, residents
from cityhub.identity import service as identity
from cityhub.notices.sending import send_to_residents, system_account
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound

UPDATED = "complaint.updated"
BATCH = 500
# How long each type may stay open before it is escalated (BBPS sets one per type).
DEADLINES = {
    ComplaintType.PAID_TWICE: dt.timedelta(days=1),
    ComplaintType.DEBITED_NOT_CREDITED: dt.timedelta(days=3),
    ComplaintType.WRONG_AMOUNT: dt.timedelta(days=5),
    ComplaintType.SERVICE: dt.timedelta(days=7),
}
NOT_CHARGED = ("quoted", "expired")  # a payment never charged: nothing to complain of
PORTAL = "portal"  # the hub's own channel: its users follow a complaint on the portal


def _actor(actor: audit.Actor) -> str:
    return f"{actor.type}:{actor.id}"[:120]


async def create(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int,
    actor: audit.Actor,
    complaint_in: ComplaintCreate,
) -> Complaint:
    """The channel's complaint, logged, then resolved by the hub or assigned."""
    view = None
    if complaint_in.payment_id is not None:
        view = await billing.get_view_or_raise(
            session=session, city_id=city_id, public_id=complaint_in.payment_id,
            channel_id=channel_id,
        )  # fmt: skip
        if billing.effective_status(view.payment).value in NOT_CHARGED:
            raise Conflict(
                "this payment was never charged; there is nothing to complain of",
                code="complaint_payment_not_charged",
                field="payment_id",
            )
        service, user_id = view.service, view.payment.user_id
    else:
        assert complaint_in.service is not None  # the schema asks for one or the other
        service = await cities.get_service_or_raise(
            session=session, city_id=city_id, code=complaint_in.service
        )
        await cities.require_service_granted(
            session=session, channel_id=channel_id, service=service
        )
        user_id = complaint_in.user_id
    now = utcnow()
    row = Complaint(
        city_id=city_id,
        public_id=billing.new_id("cmp"),
        channel_id=channel_id,
        user_id=user_id,
        type=complaint_in.type,
        status=ComplaintStatus.LOGGED,
        payment_public_id=complaint_in.payment_id,
        service_id=service.id,
        description=complaint_in.description,
        due_at=now + DEADLINES[complaint_in.type],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await _changed(session, row, actor, None)
    hub = audit.Actor.system()
    if view is not None and row.type == ComplaintType.PAID_TWICE:
        refund = await billing.refund_duplicate(
            session=session,
            view=view,
            reason=f"paid twice (complaint {row.public_id})",
            requested_by=f"complaint:{row.public_id}",
        )
        if refund is not None:
            note = f"the ledger shows the bill paid twice: {refund.payment_id} refunded"
            row.refund_public_id = refund.refund_id
            return await move(session=session, row=row, to=ComplaintStatus.RESOLVED,
                              actor=hub, note=note, resolution=note,
                              refunded=refund.payment_id)  # fmt: skip
    row.assigned_to = f"provider:{service.provider}" if service.provider else "city"
    return await move(session=session, row=row, to=ComplaintStatus.ASSIGNED, actor=hub,
                      note=f"assigned to {row.assigned_to}")  # fmt: skip


FROM = {
    # An assigned complaint may be given to someone else (decisions.assign).
    ComplaintStatus.ASSIGNED: OPEN,
    ComplaintStatus.ESCALATED: OPEN,
    ComplaintStatus.RESOLVED: (*OPEN, ComplaintStatus.ESCALATED),
}


async def move(
    *,
    session: AsyncSession,
    row: Complaint,
    to: ComplaintStatus,
    actor: audit.Actor,
    note: str | None,
    resolution: str | None = None,
    refunded: str | None = None,
) -> Complaint:
    """Move the complaint to `to`, once (Conflict if it moved on already); `refunded` is the
    payment the hub refunded to resolve it."""
    now = utcnow()
    values: dict[str, object] = {"status": to, "updated_at": now}
    if row.assigned_to is not None:
        values["assigned_to"] = row.assigned_to
    if row.refund_public_id is not None:
        values["refund_public_id"] = row.refund_public_id
    if resolution is not None:
        values["resolution"] = resolution
    taken = await session.execute(
        update(Complaint)
        .where(Complaint.id == row.id, Complaint.status.in_(FROM[to]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"this complaint is {row.status.value} already", code="complaint_closed")
    await session.refresh(row)
    await _changed(session, row, actor, note, refunded)
    return row


async def _changed(
    session: AsyncSession,
    row: Complaint,
    actor: audit.Actor,
    note: str | None,
    refunded: str | None = None,
) -> None:
    """The change stored, audited, told to the channel and to the resident."""
    event = ComplaintEvent(
        city_id=row.city_id, complaint_id=row.id, status=row.status, actor=_actor(actor),
        note=note, at=row.updated_at,
    )  # fmt: skip
    session.add(event)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action=f"complaint.{row.status.value}",
        object_type="complaint",
        object_id=row.public_id,
        city_id=row.city_id,
        details={"type": row.type.value, "payment": row.payment_public_id, "note": note},
    )
    city = await cities.get_city(session=session, city_id=row.city_id)
    assert city is not None
    answer = (await read(session=session, city_slug=city.slug, row=row)).model_dump(mode="json")
    await outbox.enqueue(
        session=session,
        topic=UPDATED,
        city_id=row.city_id,
        payload={"channel_id": row.channel_id, "complaint": answer},
    )
    await _tell_resident(session, row, city.slug, event.id, refunded)


async def resident_of(*, session: AsyncSession, row: Complaint) -> int | None:
    """The resident behind the complaint's channel user, if the hub knows them."""
    if row.user_id is None:
        return None
    try:
        found = await residents.get_for_channel_or_raise(
            session=session, channel_id=row.channel_id, user_id=row.user_id
        )
    except NotFound:
        return None
    return found.resident.id


async def _tell_resident(
    session: AsyncSession, row: Complaint, city_slug: str, event_id: int, refunded: str | None
) -> None:
    """The step as a notice in the resident's inbox (once per step, whatever retries); the
    portal's own users get the link to the complaint's page."""
    resident_id = await resident_of(session=session, row=row)
    if resident_id is None:
        return
    channel = await identity.get_channel(session=session, channel_id=row.channel_id)
    portal = channel is not None and channel.kind == PORTAL
    values: dict[str, object] = {"complaint": row.public_id}
    template = f"complaint-{row.status.value}"
    if refunded is not None:
        template, values["payment"] = "complaint-refunded", refunded
    elif row.status == ComplaintStatus.RESOLVED:
        values["answer"] = (row.resolution or "-")[:500]
    await send_to_residents(
        session=session,
        city_id=row.city_id,
        account=await system_account(session=session, city_id=row.city_id),
        template=template,
        values=values,
        resident_ids=[resident_id],
        dedupe_key=f"complaint:{row.public_id}:{event_id}",
        ref=f"complaint:{row.public_id}",
        link=f"/c/{city_slug}/complaints/{row.public_id}" if portal else None,
    )


async def get_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None = None
) -> Complaint:
    """A city's complaint (the channel's own, when given), or NotFound."""
    query = select(Complaint).where(Complaint.city_id == city_id, Complaint.public_id == public_id)
    if channel_id is not None:
        query = query.where(Complaint.channel_id == channel_id)
    row = await session.scalar(query)
    if row is None:
        raise NotFound(f"no complaint {public_id!r}", code="complaint_not_found")
    return row


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    service_ids: Sequence[int] | None = None,
    status: ComplaintStatus | None = None,
    type: ComplaintType | None = None,
    user_id: str | None = None,
    overdue_at: dt.datetime | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Complaint]:
    """A city's complaints, newest first (a channel's, its user's, of these services, of a
    status or type; with `overdue_at`, those still open past their deadline then)."""
    query = (
        select(Complaint)
        .where(Complaint.city_id == city_id)
        .order_by(Complaint.id.desc())
        .limit(limit)
    )
    if channel_id is not None:
        query = query.where(Complaint.channel_id == channel_id)
    if service_ids is not None:
        query = query.where(Complaint.service_id.in_(service_ids))
    if status is not None:
        query = query.where(Complaint.status == status)
    if type is not None:
        query = query.where(Complaint.type == type)
    if user_id is not None:
        query = query.where(Complaint.user_id == user_id)
    if overdue_at is not None:
        query = query.where(Complaint.status.in_(OPEN), Complaint.due_at <= overdue_at)
    if after:
        query = query.where(Complaint.id < after)
    return list((await session.scalars(query)).all())


async def counts(*, session: AsyncSession, city_id: int) -> list[tuple[int, int, bool, int]]:
    """(service id, channel id, about a payment, complaints) of the city, every complaint
    ever filed: the channel parity report's complaints."""
    about_payment = Complaint.payment_public_id.is_not(None)
    rows = await session.execute(
        select(Complaint.service_id, Complaint.channel_id, about_payment, func.count())
        .where(Complaint.city_id == city_id)
        .group_by(Complaint.service_id, Complaint.channel_id, about_payment)
    )
    return [(int(s), int(c), bool(p), int(n)) for s, c, p, n in rows]


async def escalate(*, session: AsyncSession, city_id: int, now: dt.datetime) -> dict[str, int]:
    """Escalate every open complaint of the city past its deadline, once each."""
    overdue = await session.scalars(
        select(Complaint)
        .where(Complaint.city_id == city_id, Complaint.status.in_(OPEN), Complaint.due_at <= now)
        .order_by(Complaint.due_at)
        .limit(BATCH)
    )
    escalated = 0
    for row in list(overdue):
        try:
            await move(session=session, row=row, to=ComplaintStatus.ESCALATED,
                       actor=audit.Actor.system(), note="past its deadline")  # fmt: skip
        except Conflict:  # resolved, or escalated by another run, in between
            continue
        escalated += 1
    return {"escalated": escalated}


async def read(*, session: AsyncSession, city_slug: str, row: Complaint) -> ComplaintRead:
    """The API shape of a complaint, with its history oldest first."""
    events = await session.scalars(
        select(ComplaintEvent)
        .where(ComplaintEvent.city_id == row.city_id, ComplaintEvent.complaint_id == row.id)
        .order_by(ComplaintEvent.id)
    )
    service = await cities.get_service(
        session=session, city_id=row.city_id, service_id=row.service_id
    )
    assert service is not None  # a complaint's service is never deleted
    return ComplaintRead(
        id=row.public_id,
        city=city_slug,
        type=row.type,
        status=row.status,
        payment_id=row.payment_public_id,
        service=service.code,
        user_id=row.user_id,
        description=row.description,
        assigned_to=row.assigned_to,
        resolution=row.resolution,
        refund_id=row.refund_public_id,
        due_at=row.due_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=[
            ComplaintEventRead(status=e.status, actor=e.actor, note=e.note, at=e.at) for e in events
        ],
    )
