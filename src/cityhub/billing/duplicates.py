"""A bill the ledger shows paid twice: two completed payments of one bill, each of the whole
bill, by the same user of the same channel. The second is refunded in full through the refund
flow (`flows.refund`), once: its conditional UPDATE lets one refund through however many
complaints ask at once, and a later ask finds the refund already made."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import flows
from cityhub.billing.models import Bill, Payment, PaymentStatus, RefundSource
from cityhub.billing.service import PaymentView, get_view_by_id
from cityhub.platform.errors import Conflict


@dataclass(frozen=True)
class DuplicateRefund:
    """The second payment of a bill paid twice, and the refund that gave it back."""

    payment_id: str
    refund_id: str
    made_now: bool  # False: an earlier ask refunded it already


async def _twins(session: AsyncSession, payment: Payment) -> list[Payment]:
    """The payments of the same bill, amount, channel and user, completed (or since refunded),
    each for the whole bill, oldest first."""
    whole = select(Bill.amount_fen).where(
        Bill.city_id == payment.city_id, Bill.id == payment.bill_id
    )
    query = (
        select(Payment)
        .where(
            Payment.city_id == payment.city_id,
            Payment.bill_id == payment.bill_id,
            Payment.channel_id == payment.channel_id,
            Payment.user_id == payment.user_id,
            Payment.amount_fen == payment.amount_fen,
            Payment.amount_fen >= whole.scalar_subquery(),
            Payment.completed_at.is_not(None),
            Payment.status.in_((PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)),
        )
        .order_by(Payment.id)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(query)).all())


async def _made(session: AsyncSession, payment: Payment) -> str | None:
    refunds = await flows.refunds_of(session=session, payment=payment)
    return refunds[0].public_id if refunds else None


async def refund_second(
    *, session: AsyncSession, view: PaymentView, reason: str, requested_by: str
) -> DuplicateRefund | None:
    """Refund the second payment of the bill if the ledger shows it paid twice (None if not)."""
    if view.payment.user_id is None:
        return None  # nothing proves two payments came from one person
    twins = await _twins(session, view.payment)
    if len(twins) < 2:
        return None
    second = twins[1]
    if second.refunded_fen == 0 and second.status == PaymentStatus.COMPLETED:
        target = await get_view_by_id(session=session, city_id=second.city_id, payment_id=second.id)
        try:
            refund = await flows.refund(
                session=session,
                view=target,
                amount_fen=second.amount_fen,
                currency=second.currency,
                reason=reason,
                source=RefundSource.STAFF,
                requested_by=requested_by,
            )
        except Conflict:  # another ask refunded it in between: theirs is the refund
            await session.refresh(second)
        else:
            return DuplicateRefund(second.public_id, refund.public_id, made_now=True)
    made = await _made(session, second)
    if made is None:
        return None  # refunded some other way in part: a person looks at it
    return DuplicateRefund(second.public_id, made, made_now=False)
