"""What may still be paid against a bill under partial and advance terms.

An exact-amount bill is held by the one payment confirmed for it (`Bill.paying_payment_id`).
Partial and advance terms let several payments share a bill, so the hub keeps the sum of the
payments standing against it (`Bill.paid_fen`) and takes each new one out of what is left with
one conditional UPDATE when it is quoted, before any channel charges its user: three channels
paying the same bill at once get quotes for what fits and a 409 for the rest, on SQLite and
PostgreSQL alike. A quote that expires, a payment the biller refuses and a refund give their
amount back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import AmountRule, Bill, Payment, PaymentStatus
from cityhub.billing.terms import Terms
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict


def ceiling_fen(terms: Terms, bill_fen: int) -> int:
    """The most all payments of one bill may add up to: the bill (partial), `max_fen`
    (advance: above the bill allowed, up to the biller's maximum)."""
    if terms.amount_rule == AmountRule.ADVANCE and terms.max_fen is not None:
        return max(terms.max_fen, bill_fen)
    return bill_fen


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _take(session: AsyncSession, bill: Bill, amount_fen: int, ceiling: int) -> bool:
    taken = await session.execute(
        update(Bill)
        .where(
            Bill.city_id == bill.city_id,
            Bill.id == bill.id,
            Bill.paid_fen + amount_fen <= ceiling,
        )
        .values(paid_fen=Bill.paid_fen + amount_fen)
        .execution_options(synchronize_session=False)
    )
    return _rows(taken) == 1


async def reserve(*, session: AsyncSession, bill: Bill, amount_fen: int, terms: Terms) -> None:
    """Take `amount_fen` out of what the bill may still take, or 409 `bill_amount_exceeded`
    saying what is left (quotes past their expiry give theirs back first)."""
    ceiling = ceiling_fen(terms, bill.amount_fen)
    if await _take(session, bill, amount_fen, ceiling):
        return
    if await expire_stale(session=session, bill=bill) and await _take(
        session, bill, amount_fen, ceiling
    ):
        return
    # What stands against the bill now (the bill was read before the quote, maybe not by
    # this session's unit of work).
    paid = int(
        await session.scalar(
            select(Bill.paid_fen).where(Bill.city_id == bill.city_id, Bill.id == bill.id)
        )
        or 0
    )
    left = max(ceiling - paid, 0)
    raise Conflict(
        f"bill {bill.bill_ref} can take {left} fen more (payments of {paid} fen stand"
        f" against its {ceiling})",
        code="bill_amount_exceeded",
        field="amount_fen",
        left_fen=left,
    )


async def release(*, session: AsyncSession, amounts: Iterable[tuple[int, int, int]]) -> None:
    """Give amounts back to their bills: (city id, bill id, fen), summed per bill."""
    per_bill: dict[tuple[int, int], int] = defaultdict(int)
    for city_id, bill_id, fen in amounts:
        per_bill[city_id, bill_id] += fen
    for (city_id, bill_id), fen in sorted(per_bill.items()):  # one order: no deadlocks
        await session.execute(
            update(Bill)
            .where(Bill.city_id == city_id, Bill.id == bill_id)
            .values(paid_fen=case((Bill.paid_fen > fen, Bill.paid_fen - fen), else_=0))
            .execution_options(synchronize_session=False)
        )


async def expire_stale(*, session: AsyncSession, bill: Bill) -> int:
    """Expire the bill's shared-bill quotes past their expiry and give their room back; how
    many."""
    expired = await session.execute(
        update(Payment)
        .where(
            Payment.city_id == bill.city_id,
            Payment.bill_id == bill.id,
            Payment.status == PaymentStatus.QUOTED,
            Payment.quote_expires_at <= utcnow(),
            Payment.holds_bill.is_(False),
        )
        .values(status=PaymentStatus.EXPIRED)
        .returning(Payment.bill_id, Payment.amount_fen)
        .execution_options(synchronize_session=False)
    )
    rows = [(bill.city_id, r.bill_id, r.amount_fen) for r in expired.all()]
    await release(session=session, amounts=rows)
    return len(rows)
