"""Agreements: made by a resident through a channel (with a purpose-bound consent), listed,
paused, resumed and cancelled by that channel, or by the resident from any channel where they
are linked and on the portal.

Every change of an agreement is one conditional UPDATE on its status, and so is `take`, which
each step of a debit runs first in its own transaction: an UPDATE holds the row until the
transaction ends (PostgreSQL's row lock; SQLite's one writer), so a cancel and a debit are
ordered, and whatever comes after a cancel sees it and never debits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.autodebit.models import (
    LIVE,
    OPEN,
    Agreement,
    AutoDebit,
    AutoDebitAgreementStatus,
    AutoDebitStatus,
)
from cityhub.autodebit.schemas import AutoDebitAgreementCreate, AutoDebitAgreementRead
from cityhub.billing import bills, catalogue
from cityhub.billing import service as payments
from cityhub.cities import service as cities
from cityhub.identity import residents
from cityhub.identity import service as identity
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service
    from cityhub.identity.models import Channel

CHANGED = "autodebit.agreement_changed"
SCOPE_PREFIX = "autodebit:"  # each agreement's consent has a scope of its own: its purpose


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def consent_scope(public_id: str) -> str:
    """The scope of an agreement's own consent."""
    return SCOPE_PREFIX + public_id


async def create(
    *, session: AsyncSession, city: City, channel: Channel, agreement_in: AutoDebitAgreementCreate
) -> Agreement:
    """The channel's user agrees that the channel pays the account's bills, each up to the
    limit: the service must be granted and the account in the biller's format; one live
    agreement per account; the consent is recorded for exactly this purpose."""
    service, terms = await bills.usable_service(
        session=session, city=city, channel_id=channel.id, code=agreement_in.service
    )
    account, _ = catalogue.check_fields(terms, {"account": agreement_in.account})
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel.id, user_id=agreement_in.user_id
    )
    live = await session.scalar(
        select(Agreement.public_id).where(
            Agreement.city_id == city.id,
            Agreement.service_id == service.id,
            Agreement.account == account,
            Agreement.status.in_(LIVE),
        )
    )
    if live is not None:
        raise Conflict(
            f"account {account} already has a live auto-debit agreement ({live})",
            code="autodebit_agreement_exists",
            field="account",
        )
    public_id = f"ada_{uuid.uuid4().hex}"
    consent = await residents.give_consent(
        session=session,
        resident_id=found.resident.id,
        channel_id=channel.id,
        scope=consent_scope(public_id),
        purpose=f"auto-debit {service.code} account {account}: each bill up to "
        f"{agreement_in.limit_fen} fen ({agreement_in.currency}), paid by {channel.slug}",
    )
    now = utcnow()
    row = Agreement(
        city_id=city.id,
        public_id=public_id,
        resident_id=found.resident.id,
        channel_id=channel.id,
        user_id=agreement_in.user_id,
        service_id=service.id,
        account=account,
        limit_fen=agreement_in.limit_fen,
        currency=agreement_in.currency,
        status=AutoDebitAgreementStatus.ACTIVE,
        consent_id=consent.id,
        changed_by=f"channel:{channel.slug}",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def get_or_raise(*, session: AsyncSession, city_id: int, public_id: str) -> Agreement:
    """An agreement of the city, or NotFound."""
    row = await session.scalar(
        select(Agreement).where(Agreement.city_id == city_id, Agreement.public_id == public_id)
    )
    if row is None:
        raise _not_found(public_id)
    return row


def _not_found(public_id: str) -> NotFound:
    return NotFound(f"no auto-debit agreement {public_id!r}", code="autodebit_agreement_not_found")


async def reach_or_raise(
    *, session: AsyncSession, agreement: Agreement, channel: Channel, user_id: str | None
) -> str:
    """Who acts on the agreement through this channel: the channel that debits (for itself or
    its user), or the resident through another channel where they are linked (`user_id`);
    anyone else's agreement does not exist here (404)."""
    if agreement.channel_id == channel.id and user_id in (None, agreement.user_id):
        return f"channel:{channel.slug}"
    if user_id is not None:
        found = await residents.get_for_channel_or_raise(
            session=session, channel_id=channel.id, user_id=user_id
        )
        if found.resident.id == agreement.resident_id:
            return f"resident via channel:{channel.slug}"
    raise _not_found(agreement.public_id)


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None = None,
    resident_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[Agreement]:
    """The city's agreements of a channel, or of a resident (made on any channel), newest
    first."""
    query = select(Agreement).where(Agreement.city_id == city_id)
    if channel_id is not None:
        query = query.where(Agreement.channel_id == channel_id)
    if resident_id is not None:
        query = query.where(Agreement.resident_id == resident_id)
    if after:
        query = query.where(Agreement.id < after)
    rows = await session.scalars(query.order_by(Agreement.id.desc()).limit(limit))
    return list(rows.all())


async def get_all_of_resident(*, session: AsyncSession, resident_id: int) -> list[Agreement]:
    """A resident's agreements in every city, newest first (the portal's page)."""
    rows = await session.scalars(
        select(Agreement).where(Agreement.resident_id == resident_id).order_by(Agreement.id.desc())
    )
    return list(rows.all())


async def take(
    *, session: AsyncSession, city_id: int, agreement_id: int, total_fen: int | None = None
) -> bool:
    """Hold an active agreement for one step of a debit (and, given an amount, only if it is
    within the limit): one conditional UPDATE, so a cancel waits for the step or the step sees
    the cancel. Whether it is active (and the amount allowed)."""
    query = update(Agreement).where(
        Agreement.city_id == city_id,
        Agreement.id == agreement_id,
        Agreement.status == AutoDebitAgreementStatus.ACTIVE,
    )
    if total_fen is not None:
        query = query.where(Agreement.limit_fen >= total_fen)
    changed = await session.execute(
        query.values(status=Agreement.status).execution_options(synchronize_session=False)
    )
    return _rows(changed) == 1


_MOVES = {
    AutoDebitAgreementStatus.PAUSED: (AutoDebitAgreementStatus.ACTIVE,),
    AutoDebitAgreementStatus.ACTIVE: (AutoDebitAgreementStatus.PAUSED,),
    AutoDebitAgreementStatus.CANCELLED: LIVE,
}


async def change(
    *, session: AsyncSession, agreement: Agreement, to: AutoDebitAgreementStatus, actor: str
) -> Agreement:
    """Pause, resume or cancel (again: as it is); a cancelled agreement stays cancelled. A
    cancel also stops the agreement's open debits, expires their quotes and withdraws its
    consent; the channel that debits is told of a change it did not make."""
    mine = (Agreement.city_id == agreement.city_id) & (Agreement.id == agreement.id)
    changed = await session.execute(
        update(Agreement)
        .where(mine, Agreement.status.in_(_MOVES[to]))
        .values(status=to, changed_by=actor[:120])
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        await session.refresh(agreement)
        if agreement.status == to:
            return agreement
        raise Conflict(
            f"the agreement is {agreement.status.value}", code="autodebit_agreement_cancelled"
        )
    # Stamped once the row is ours: a debit step that held it first (the cancel waited for it)
    # happened before this time, never after.
    now = utcnow()
    stamps = (
        {"updated_at": now, "cancelled_at": now} if to == AutoDebitAgreementStatus.CANCELLED else {}
    )
    await session.execute(
        update(Agreement)
        .where(mine)
        .values(**(stamps or {"updated_at": now}))
        .execution_options(synchronize_session=False)
    )
    await session.refresh(agreement)
    if to == AutoDebitAgreementStatus.CANCELLED:
        await _stop_debits(session, agreement)
    if actor != f"channel:{await _slug(session, agreement)}":
        read = await read_one(session=session, agreement=agreement, channel_id=agreement.channel_id)
        await outbox.enqueue(
            session=session,
            topic=CHANGED,
            city_id=agreement.city_id,
            payload={"channel_id": agreement.channel_id, "agreement": read.model_dump(mode="json")},
        )
    return agreement


async def _slug(session: AsyncSession, agreement: Agreement) -> str | None:
    return await identity.get_channel_slug(session=session, channel_id=agreement.channel_id)


async def _stop_debits(session: AsyncSession, agreement: Agreement) -> None:
    stopped = await session.execute(
        update(AutoDebit)
        .where(
            AutoDebit.city_id == agreement.city_id,
            AutoDebit.agreement_id == agreement.id,
            AutoDebit.status.in_(OPEN),
        )
        .values(status=AutoDebitStatus.CANCELLED, updated_at=utcnow(), failure_code="cancelled")
        .returning(AutoDebit.payment_id)
        .execution_options(synchronize_session=False)
    )
    for payment_id in [p for (p,) in stopped.all() if p is not None]:
        await payments.expire_quote(
            session=session, city_id=agreement.city_id, payment_id=payment_id
        )
    try:
        await residents.withdraw_consent(
            session=session,
            resident_id=agreement.resident_id,
            channel_id=agreement.channel_id,
            consent_id=agreement.consent_id,
        )
    except NotFound:  # the consent went with a merged record: nothing left to withdraw
        pass


async def reads(
    *, session: AsyncSession, agreements: Sequence[Agreement], channel_id: int | None
) -> list[AutoDebitAgreementRead]:
    """The API shapes; the channel's own user ids only to that channel."""
    channels = await identity.get_channels_by_id(
        session=session, channel_ids={a.channel_id for a in agreements}
    )
    out = []
    for a in agreements:
        city = await cities.get_city(session=session, city_id=a.city_id)
        service = await cities.get_service(
            session=session, city_id=a.city_id, service_id=a.service_id
        )
        assert city is not None and service is not None  # foreign keys
        channel = channels.get(a.channel_id)
        out.append(
            AutoDebitAgreementRead(
                id=a.public_id,
                city=city.slug,
                service=service.code,
                account=a.account,
                limit_fen=a.limit_fen,
                currency=a.currency,
                status=a.status,
                channel=channel.slug if channel else "",
                user_id=a.user_id if a.channel_id == channel_id else None,
                consent_id=a.consent_id,
                changed_by=a.changed_by,
                created_at=a.created_at,
                updated_at=a.updated_at,
                cancelled_at=a.cancelled_at,
            )
        )
    return out


async def read_one(
    *, session: AsyncSession, agreement: Agreement, channel_id: int | None
) -> AutoDebitAgreementRead:
    """One agreement's API shape."""
    [read] = await reads(session=session, agreements=[agreement], channel_id=channel_id)
    return read


async def cancel_for_withdrawn_consent(
    *, session: AsyncSession, channel_id: int, consent_id: int
) -> int:
    """A consent withdrawn elsewhere (the resident's data page, the channel): its agreement
    is cancelled; how many were."""
    rows = await session.scalars(
        select(Agreement).where(
            Agreement.channel_id == channel_id,
            Agreement.consent_id == consent_id,
            Agreement.status.in_(LIVE),
        )
    )
    found = list(rows.all())
    for agreement in found:
        await change(
            session=session,
            agreement=agreement,
            to=AutoDebitAgreementStatus.CANCELLED,
            actor="resident: consent withdrawn",
        )
    return len(found)


async def of_resident(
    *, session: AsyncSession, resident_id: int
) -> list[tuple[Agreement, City, Service, str]]:
    """A resident's agreements in every city, newest first, with the city, the service and
    the name of the channel that debits (the portal's page)."""
    found = await get_all_of_resident(session=session, resident_id=resident_id)
    channels = await identity.get_channels_by_id(
        session=session, channel_ids={a.channel_id for a in found}
    )
    rows = []
    for a in found:
        city = await cities.get_city(session=session, city_id=a.city_id)
        service = await cities.get_service(
            session=session, city_id=a.city_id, service_id=a.service_id
        )
        assert city is not None and service is not None  # foreign keys
        channel = channels.get(a.channel_id)
        rows.append((a, city, service, channel.name if channel else ""))
    return rows


ACTIONS = {
    "pause": AutoDebitAgreementStatus.PAUSED,
    "resume": AutoDebitAgreementStatus.ACTIVE,
    "cancel": AutoDebitAgreementStatus.CANCELLED,
}


async def act_for_resident(
    *, session: AsyncSession, resident_id: int, public_id: str, action: str
) -> Agreement:
    """The resident pauses, resumes or cancels one of their own agreements on the portal;
    anyone else's does not exist here."""
    found = await get_all_of_resident(session=session, resident_id=resident_id)
    agreement = next((a for a in found if a.public_id == public_id), None)
    if agreement is None or action not in ACTIONS:
        raise _not_found(public_id)
    return await change(
        session=session, agreement=agreement, to=ACTIONS[action], actor="resident on the portal"
    )
