"""What follows a confirmation: the biller's answer, refunds, and telling the channel.

Every transition is one conditional UPDATE on the payment's status (or its refunded amount),
and only the caller that changed the row posts to the ledger and tells the channel: a
duplicate answer, a retried outbox event or a second click changes nothing.
"""

from __future__ import annotations

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from cityhub import outbox
from cityhub.billing import allowance, ledger, sandbox
from cityhub.billing.models import Bill, Payment, PaymentStatus, Refund, RefundSource
from cityhub.billing.schemas import RefundRead
from cityhub.billing.service import PaymentView, new_id
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Unprocessable
from cityhub.subsidies import payments as subsidies

REVERSE_AT_BILLER = "billing.reverse_at_biller"


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


async def tell_channel(
    *, session: AsyncSession, topic: str, view: PaymentView, **extra: object
) -> None:
    """Queue a signed webhook about the payment to its channel."""
    payment = view.payment
    payload = {
        "channel_id": payment.channel_id,
        "payment": view.read().model_dump(mode="json"),
        **extra,
    }
    await outbox.enqueue(session=session, topic=topic, city_id=payment.city_id, payload=payload)


def _wrote(payment: Payment, **values: object) -> None:
    # What a conditional UPDATE wrote, onto the object read before it (no second read).
    for name, value in values.items():
        set_committed_value(payment, name, value)


async def complete(*, session: AsyncSession, view: PaymentView, provider_ref: str) -> bool:
    """The biller accepted: the payment is completed (once); whether this call did it."""
    payment = view.payment
    values = {
        "status": PaymentStatus.COMPLETED,
        "provider_ref": provider_ref,
        "completed_at": utcnow(),
    }
    changed = await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.CONFIRMED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        return False
    _wrote(payment, **values)
    await ledger.post(
        session=session,
        city_id=payment.city_id,
        kind="payment.completed",
        currency=payment.currency,
        lines=sandbox.lines(
            payment,
            [
                (ledger.biller_pending(payment.service_id), payment.amount_fen),
                (ledger.biller_payable(payment.service_id), -payment.amount_fen),
            ],
        ),
        payment_id=payment.id,
        memo=f"{payment.public_id} accepted by the biller as {provider_ref}",
    )
    # What was paid of the bill goes up: the bill its payment holds is paid in the same
    # statement; a shared bill's amount moves from reserved to paid.
    await allowance.settle(session=session, payment=payment)
    await tell_channel(session=session, topic="payment.completed", view=view)
    return True


async def fail(*, session: AsyncSession, view: PaymentView, code: str, detail: str) -> bool:
    """The biller refused for good: fail the payment, reverse its posting, and tell the channel
    to refund its user (once); whether this call did it."""
    payment = view.payment
    values = {
        "status": PaymentStatus.FAILED,
        "failed_at": utcnow(),
        "failure_code": code[:60],
        "failure_detail": detail[:400],
    }
    changed = await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PaymentStatus.CONFIRMED)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        return False
    _wrote(payment, **values)
    await ledger.post(
        session=session,
        city_id=payment.city_id,
        kind="payment.failed",
        currency=payment.currency,
        lines=sandbox.lines(
            payment,
            [
                (
                    ledger.channel_receivable(payment.channel_id),
                    -payment.total_fen - payment.subsidy_fen,
                ),
                (ledger.biller_pending(payment.service_id), payment.amount_fen),
                (ledger.FEES, payment.fee_fen),
            ],
        ),
        payment_id=payment.id,
        memo=f"{payment.public_id} refused by the biller: {code}",
    )
    await _release_bill(session, payment)
    if payment.subsidy_fen:  # the person has the claim back
        await subsidies.given_back(session=session, payment=payment, why=f"refused: {code}")
    await tell_channel(
        session=session,
        topic="payment.failed",
        view=view,
        refund_required=True,
        refund_fen=payment.total_fen,
    )
    return True


async def _release_bill(session: AsyncSession, payment: Payment) -> None:
    if not payment.holds_bill:  # a shared bill: the amount is free for other payments
        await allowance.release(
            session=session, amounts=[(payment.city_id, payment.bill_id, payment.amount_fen)]
        )
        return
    await session.execute(
        update(Bill)
        .where(
            Bill.city_id == payment.city_id,
            Bill.id == payment.bill_id,
            Bill.paying_payment_id == payment.id,
        )
        .values(paying_payment_id=None, status="unpaid")
        .execution_options(synchronize_session=False)
    )


async def refund(
    *,
    session: AsyncSession,
    view: PaymentView,
    amount_fen: int,
    currency: str,
    reason: str,
    source: RefundSource,
    requested_by: str,
) -> Refund:
    """Give back part or all of a completed payment: a posting, and the channel is told.
    The last part returns the fee too; a full refund by staff is also sent to the biller."""
    payment = view.payment
    seen = _check_refundable(payment, amount_fen, currency)
    last = amount_fen == payment.amount_fen - seen
    subsidies.check_refund(payment, amount_fen, last)
    await _take_refund(session, payment, seen, amount_fen)
    row = await _record_refund(
        session,
        payment,
        amount_fen=amount_fen,
        fee_fen=payment.fee_fen if last else 0,
        source=source,
        reason=reason,
        requested_by=requested_by,
        told_biller=last and source in (RefundSource.STAFF, RefundSource.CHANNEL),
    )
    if last and payment.subsidy_fen:  # the benefit goes back with the last part, once
        if await subsidies.given_back(session=session, payment=payment, why=row.public_id):
            row.total_fen -= payment.subsidy_fen  # what the user paid, not the city
    # What was paid of the bill is lower: every refunded fen of a shared bill may be paid
    # again, and an exact-amount bill refunded in full is unpaid again.
    await allowance.unpay(
        session=session, city_id=payment.city_id, bill_id=payment.bill_id, amount_fen=amount_fen
    )
    if payment.holds_bill and last:
        await _release_bill(session, payment)
    _wrote(
        payment,
        refunded_fen=seen + amount_fen,
        status=PaymentStatus.REFUNDED if last else payment.status,
    )
    await _announce_refund(session, view, row)
    return row


def _check_refundable(payment: Payment, amount_fen: int, currency: str) -> int:
    """What was refunded of the payment so far, if `amount_fen` more may be refunded now."""
    if currency != payment.currency:
        raise Unprocessable(
            f"the payment is in {payment.currency}", code="currency_mismatch", field="currency"
        )
    if payment.status not in (PaymentStatus.COMPLETED,):
        raise Conflict(
            f"only a completed payment can be refunded; this one is {payment.status.value}",
            code="payment_not_refundable",
        )
    left = payment.amount_fen - payment.refunded_fen
    if amount_fen > left:
        raise Unprocessable(
            f"at most {left} of this payment is left to refund",
            code="refund_exceeds_payment",
            field="amount_fen",
        )
    return payment.refunded_fen


async def _take_refund(session: AsyncSession, payment: Payment, seen: int, amount_fen: int) -> None:
    """Add the amount to what was refunded, if nobody refunded in between (one conditional
    UPDATE); the payment is refunded once all of it is."""
    changed = await session.execute(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.status == PaymentStatus.COMPLETED,
            Payment.refunded_fen == seen,  # nobody refunded in between
        )
        .values(
            refunded_fen=Payment.refunded_fen + amount_fen,
            status=case(
                (Payment.refunded_fen + amount_fen >= Payment.amount_fen, PaymentStatus.REFUNDED),
                else_=Payment.status,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        raise Conflict(
            "the payment changed while this refund was made; look at it again and retry",
            code="concurrent_refund",
        )


async def _record_refund(
    session: AsyncSession,
    payment: Payment,
    *,
    amount_fen: int,
    fee_fen: int,
    source: RefundSource,
    reason: str,
    requested_by: str,
    told_biller: bool,
) -> Refund:
    """The refund's row and its posting (the bill's part and the fee back to the channel)."""
    row = Refund(
        city_id=payment.city_id,
        public_id=new_id("rf"),
        payment_id=payment.id,
        amount_fen=amount_fen,
        fee_fen=fee_fen,
        total_fen=amount_fen + fee_fen,
        currency=payment.currency,
        source=source,
        reason=reason,
        requested_by=requested_by[:120],
        biller_status="pending" if told_biller else "none",
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    await ledger.post(
        session=session,
        city_id=payment.city_id,
        kind="refund",
        currency=payment.currency,
        lines=sandbox.lines(
            payment,
            [
                (ledger.biller_payable(payment.service_id), amount_fen),
                (ledger.FEES, fee_fen),
                (ledger.channel_receivable(payment.channel_id), -(amount_fen + fee_fen)),
            ],
        ),
        payment_id=payment.id,
        refund_id=row.id,
        memo=f"{row.public_id} of {payment.public_id} ({source.value}): {reason}",
    )
    return row


async def _announce_refund(session: AsyncSession, view: PaymentView, row: Refund) -> None:
    """Tell the channel; a refund to be told to the biller goes to the outbox too."""
    payment = view.payment
    await tell_channel(
        session=session,
        topic="refund.succeeded",
        view=view,
        refund=refund_read(row, payment).model_dump(mode="json"),
    )
    if row.biller_status == "pending":
        await outbox.enqueue(
            session=session,
            topic=REVERSE_AT_BILLER,
            city_id=payment.city_id,
            payload={"refund_id": row.id, "channel_id": payment.channel_id, "attempt": 1},
        )


def refund_read(row: Refund, payment: Payment) -> RefundRead:
    """The API shape of a refund."""
    return RefundRead(
        id=row.public_id,
        payment_id=payment.public_id,
        amount_fen=row.amount_fen,
        fee_fen=row.fee_fen,
        total_fen=row.total_fen,
        currency=row.currency,
        source=row.source,
        reason=row.reason,
        biller_status=row.biller_status,
        created_at=row.created_at,
    )


async def refunds_of(*, session: AsyncSession, payment: Payment) -> list[Refund]:
    """A payment's refunds, oldest first."""
    query = select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)
    return list((await session.scalars(query)).all())
