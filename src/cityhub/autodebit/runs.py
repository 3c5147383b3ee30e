"""The auto-debits: each new unpaid bill of an active agreement is planned once (the resident
is told, and the notice period starts); once it has passed the channel is asked to debit (a
quote, and a signed `autodebit.requested` webhook); the channel's call back confirms it
through the payments' own confirmation, or reports a failure, which is retried a bounded
number of times and then reported (`autodebit.failed`).

Each step first takes its agreement (`service.take`, one conditional UPDATE) in the step's own
transaction, so a cancel is ordered with it: a step after a cancel finds nothing to take.
A bill is debited once: `auto_debits` is unique per (city, service, bill).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.autodebit import notify, service
from cityhub.autodebit.models import Agreement, AutoDebit, AutoDebitAgreementStatus, AutoDebitStatus
from cityhub.autodebit.schemas import AutoDebitRead
from cityhub.billing import service as payments
from cityhub.billing.schemas import PaymentConfirm, PaymentCreate
from cityhub.cities import service as cities
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError, Conflict, NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.billing.models import Bill
    from cityhub.billing.service import PaymentView
    from cityhub.billing.terms import Terms
    from cityhub.cities.models import City

REQUESTED = "autodebit.requested"
FAILED = "autodebit.failed"
NO_ANSWER = "no_answer"  # the failure of a request left unanswered past its quote
NOTICE_PERIOD = dt.timedelta(hours=24)  # between telling the resident and the debit
MAX_ATTEMPTS = 3
RETRY_AFTER = (dt.timedelta(hours=6), dt.timedelta(hours=24))  # after the 1st, the 2nd failure


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


async def plan(
    *,
    session: AsyncSession,
    agreement_id: int,
    city_id: int,
    found: Sequence[Bill],
    terms: Terms,
    now: dt.datetime,
) -> list[AutoDebit]:
    """The agreement's bills the biller shows unpaid, each planned once (a bill planned before,
    by this or any agreement, is left alone); the resident is told of each new one."""
    if not await service.take(session=session, city_id=city_id, agreement_id=agreement_id):
        return []  # paused or cancelled since the scan began
    agreement = await session.get(Agreement, agreement_id)
    assert agreement is not None
    planned = []
    for bill in found:
        if bill.status != "unpaid":
            continue
        row = await _insert(
            session, agreement, bill, bill.amount_fen + terms.fee(bill.amount_fen), now
        )
        if row is None:
            continue
        planned.append(row)
        template = (
            "autodebit-scheduled"
            if row.status == AutoDebitStatus.SCHEDULED
            else "autodebit-over-limit"
        )
        await notify.tell(session=session, agreement=agreement, debit=row, template=template)
    return planned


async def _insert(
    session: AsyncSession, agreement: Agreement, bill: Bill, total_fen: int, now: dt.datetime
) -> AutoDebit | None:
    """The bill's one auto-debit, if no other was planned for it (INSERT ... ON CONFLICT DO
    NOTHING on the unique bill)."""
    within = total_fen <= agreement.limit_fen and bill.currency == agreement.currency
    values: dict[str, Any] = {
        "city_id": agreement.city_id,
        "public_id": f"adb_{uuid.uuid4().hex}",
        "agreement_id": agreement.id,
        "service_id": agreement.service_id,
        "bill_id": bill.id,
        "bill_ref": bill.bill_ref,
        "amount_fen": bill.amount_fen,
        "total_fen": total_fen,
        "currency": bill.currency,
        "status": AutoDebitStatus.SCHEDULED if within else AutoDebitStatus.OVER_LIMIT,
        "debit_at": now + NOTICE_PERIOD,
        "attempts": 0,
        "failure_code": None if within else "over_limit",
        "created_at": now,
        "updated_at": now,
    }
    maker = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    made = await session.execute(
        maker(AutoDebit)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["city_id", "service_id", "bill_ref"])
        .returning(AutoDebit.id)
    )
    new_id = made.scalar()
    if new_id is None:
        return None
    return await session.get(AutoDebit, new_id)


async def due(*, session: AsyncSession, city_id: int, now: dt.datetime) -> list[int]:
    """The scheduled debits whose notice period (or retry wait) is over, oldest first."""
    rows = await session.scalars(
        select(AutoDebit.id)
        .where(
            AutoDebit.city_id == city_id,
            AutoDebit.status == AutoDebitStatus.SCHEDULED,
            AutoDebit.debit_at <= now,
        )
        .order_by(AutoDebit.debit_at, AutoDebit.id)
        .limit(500)
    )
    return list(rows.all())


async def unanswered(*, session: AsyncSession, city_id: int, now: dt.datetime) -> list[int]:
    """The requested debits whose quote ran out before the channel answered."""
    rows = await session.scalars(
        select(AutoDebit.id).where(
            AutoDebit.city_id == city_id,
            AutoDebit.status == AutoDebitStatus.REQUESTED,
            AutoDebit.answer_by <= now,
        )
    )
    return list(rows.all())


async def request(*, session: AsyncSession, city: City, debit_id: int, now: dt.datetime) -> bool:
    """Ask the channel to debit one due bill: take the agreement, mark the debit requested
    (once), quote the payment and send `autodebit.requested`; whether it was asked now. A
    paused agreement's debit waits; a quote above the limit is not sent."""
    debit = await session.get(AutoDebit, debit_id)
    if debit is None or debit.status != AutoDebitStatus.SCHEDULED:
        return False
    agreement = await session.get(Agreement, debit.agreement_id)
    assert agreement is not None
    if not await service.take(session=session, city_id=city.id, agreement_id=agreement.id):
        return False
    changed = await session.execute(
        update(AutoDebit)
        .where(AutoDebit.id == debit.id, AutoDebit.status == AutoDebitStatus.SCHEDULED)
        .values(status=AutoDebitStatus.REQUESTED, attempts=AutoDebit.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        return False
    await session.refresh(debit)
    try:
        view = await _quote(session, city, agreement, debit)
    except CityHubError as exc:
        if exc.code == "bill_already_paid":  # paid another way since it was planned
            await _close(session, debit, AutoDebitStatus.CANCELLED, exc.code, exc.detail)
        else:
            await fail_attempt(session=session, debit=debit, code=exc.code, detail=exc.detail)
        return False
    payment = view.payment
    if payment.total_fen > agreement.limit_fen:  # the bill grew (a late fee) since it was planned
        await payments.expire_quote(session=session, city_id=city.id, payment_id=payment.id)
        await _close(session, debit, AutoDebitStatus.OVER_LIMIT, "over_limit", None)
        await notify.tell(
            session=session, agreement=agreement, debit=debit, template="autodebit-over-limit"
        )
        return False
    debit.payment_id, debit.payment_public_id = payment.id, payment.public_id
    debit.answer_by, debit.total_fen = payment.quote_expires_at, payment.total_fen
    await session.flush()
    await _tell_channel(session, REQUESTED, agreement, debit, payment=view)
    return True


async def _quote(
    session: AsyncSession, city: City, agreement: Agreement, debit: AutoDebit
) -> PaymentView:
    code = await _service_code(session, agreement)
    payment_in = PaymentCreate(
        service=code,
        bill_id=debit.bill_ref,
        amount_fen=debit.amount_fen,
        currency=debit.currency,
        user_id=agreement.user_id,
    )
    async with session.begin_nested():  # a refused quote leaves nothing half-written
        return await payments.create(
            session=session, city=city, channel_id=agreement.channel_id, payment_in=payment_in
        )


async def _service_code(session: AsyncSession, agreement: Agreement) -> str:
    found = await cities.get_service(
        session=session, city_id=agreement.city_id, service_id=agreement.service_id
    )
    assert found is not None  # a foreign key
    return found.code


async def _close(
    session: AsyncSession, debit: AutoDebit, status: AutoDebitStatus, code: str, detail: str | None
) -> None:
    debit.status, debit.failure_code = status, code[:60]
    debit.failure_detail = (detail or "")[:400] or None
    debit.updated_at = utcnow()
    await session.flush()


async def fail_attempt(
    *, session: AsyncSession, debit: AutoDebit, code: str, detail: str | None
) -> AutoDebit:
    """A requested debit did not go through (the channel said why, or never answered): tried
    again later, up to `MAX_ATTEMPTS` in all, then failed and reported to the channel and the
    resident. Its quote is expired. Conflict if it was not waiting for an answer."""
    now = utcnow()
    final = debit.attempts >= MAX_ATTEMPTS
    values: dict[str, Any] = {
        "status": AutoDebitStatus.FAILED if final else AutoDebitStatus.SCHEDULED,
        "failure_code": code[:60],
        "failure_detail": (detail or "")[:400] or None,
        "answer_by": None,
        "updated_at": now,
    }
    if not final:
        values["debit_at"] = now + RETRY_AFTER[min(debit.attempts, len(RETRY_AFTER)) - 1]
    changed = await session.execute(
        update(AutoDebit)
        .where(AutoDebit.id == debit.id, AutoDebit.status == AutoDebitStatus.REQUESTED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(debit)
    if _rows(changed) != 1:
        raise _not_waiting(debit)
    if debit.payment_id is not None:
        await payments.expire_quote(
            session=session, city_id=debit.city_id, payment_id=debit.payment_id
        )
    if final:
        agreement = await session.get(Agreement, debit.agreement_id)
        assert agreement is not None
        await _tell_channel(session, FAILED, agreement, debit)
        await notify.tell(
            session=session, agreement=agreement, debit=debit, template="autodebit-failed"
        )
    return debit


def _not_waiting(debit: AutoDebit) -> Conflict:
    return Conflict(
        f"the auto-debit is {debit.status.value}, not waiting for the channel",
        code="autodebit_not_requested",
        status_now=debit.status.value,
    )


async def get_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None
) -> tuple[AutoDebit, Agreement]:
    """An auto-debit of the city (of the channel's agreements, when given) and its agreement."""
    query = (
        select(AutoDebit, Agreement)
        .join(
            Agreement,
            (Agreement.city_id == AutoDebit.city_id) & (Agreement.id == AutoDebit.agreement_id),
        )
        .where(AutoDebit.city_id == city_id, AutoDebit.public_id == public_id)
    )
    if channel_id is not None:
        query = query.where(Agreement.channel_id == channel_id)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no auto-debit {public_id!r}", code="autodebit_not_found")
    return row[0], row[1]


async def confirm(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    public_id: str,
    confirm_in: PaymentConfirm,
) -> tuple[AutoDebit, Agreement, PaymentView]:
    """The channel debited its user: take the agreement (active, the amount within its limit),
    mark the debit confirmed (once) and confirm its payment through the payments' own
    confirmation, all in this one transaction."""
    debit, agreement = await get_or_raise(
        session=session, city_id=city.id, public_id=public_id, channel_id=channel_id
    )
    held = await service.take(
        session=session, city_id=city.id, agreement_id=agreement.id, total_fen=confirm_in.amount_fen
    )
    if not held:
        await session.refresh(agreement)
        if agreement.status != AutoDebitAgreementStatus.ACTIVE:
            raise Conflict(
                f"the agreement is {agreement.status.value}: do not debit the user",
                code="autodebit_agreement_not_active",
                status_now=agreement.status.value,
            )
        raise Unprocessable(
            f"the agreement allows at most {agreement.limit_fen} a bill",
            code="autodebit_over_limit",
            field="amount_fen",
        )
    changed = await session.execute(
        update(AutoDebit)
        .where(AutoDebit.id == debit.id, AutoDebit.status == AutoDebitStatus.REQUESTED)
        .values(status=AutoDebitStatus.CONFIRMED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(debit)
    if _rows(changed) != 1 or debit.payment_public_id is None:
        raise _not_waiting(debit)
    view = await payments.confirm(
        session=session,
        city=city,
        channel_id=channel_id,
        public_id=debit.payment_public_id,
        confirm_in=confirm_in,
    )
    return debit, agreement, view


async def get_all(
    *, session: AsyncSession, city_id: int, agreement_id: int, after: int | None, limit: int
) -> list[AutoDebit]:
    """An agreement's debits, newest first."""
    query = select(AutoDebit).where(
        AutoDebit.city_id == city_id, AutoDebit.agreement_id == agreement_id
    )
    if after:
        query = query.where(AutoDebit.id < after)
    rows = await session.scalars(query.order_by(AutoDebit.id.desc()).limit(limit))
    return list(rows.all())


def read(debit: AutoDebit, agreement_public_id: str) -> AutoDebitRead:
    """The API shape of an auto-debit."""
    return AutoDebitRead(
        id=debit.public_id,
        agreement_id=agreement_public_id,
        bill_id=debit.bill_ref,
        amount_fen=debit.amount_fen,
        total_fen=debit.total_fen,
        currency=debit.currency,
        status=debit.status,
        debit_at=debit.debit_at,
        attempts=debit.attempts,
        payment_id=debit.payment_public_id,
        answer_by=debit.answer_by,
        failure_code=debit.failure_code,
        failure_detail=debit.failure_detail,
        created_at=debit.created_at,
        updated_at=debit.updated_at,
    )


async def _tell_channel(
    session: AsyncSession,
    topic: str,
    agreement: Agreement,
    debit: AutoDebit,
    payment: PaymentView | None = None,
) -> None:
    agreement_read = await service.read_one(
        session=session, agreement=agreement, channel_id=agreement.channel_id
    )
    payload: dict[str, Any] = {
        "channel_id": agreement.channel_id,
        "user_id": agreement.user_id,
        "agreement": agreement_read.model_dump(mode="json"),
        "auto_debit": read(debit, agreement.public_id).model_dump(mode="json"),
    }
    if payment is not None:
        payload["payment"] = payment.read().model_dump(mode="json")
    await outbox.enqueue(session=session, topic=topic, city_id=agreement.city_id, payload=payload)
