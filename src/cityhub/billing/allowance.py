"""What may still be paid against a bill under partial and advance terms.

An exact-amount bill is held by the one payment confirmed for it (`Bill.paying_payment_id`).
Partial and advance terms let several payments share a bill, so the hub keeps what was paid
of it (`Bill.paid_fen`: completed, less refunds) apart from what the payments under way hold
(`Bill.reserved_fen`: quoted and not expired, confirmed), and takes each new one out of what is
left with one conditional UPDATE when it is quoted, before any channel charges its user:

    UPDATE bills SET reserved_fen = reserved_fen + :amount
    WHERE paid + reserved_fen + :amount <= :ceiling

(`paid` the larger of the hub's and the biller's record, `standing.paid_of`). Three channels
paying the same bill at once get quotes for what fits and a 409 for the rest, on SQLite and
PostgreSQL alike. A quote that expires and a payment the biller refuses give their
reservation back; a completed payment moves its amount from reserved to paid; a refund lowers
what was paid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, case, func, select, update
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


def _paid() -> ColumnElement[int]:
    # The larger of the hub's and the biller's record of what was paid (`standing.paid_of`).
    biller = func.coalesce(Bill.biller_paid_fen, 0)
    return case((biller > Bill.paid_fen, biller), else_=Bill.paid_fen)


async def _take(session: AsyncSession, bill: Bill, amount_fen: int, ceiling: int) -> bool:
    taken = await session.execute(
        update(Bill)
        .where(
            Bill.city_id == bill.city_id,
            Bill.id == bill.id,
            _paid() + Bill.reserved_fen + amount_fen <= ceiling,
        )
        .values(reserved_fen=Bill.reserved_fen + amount_fen)
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
    row = (
        await session.execute(
            select(_paid().label("paid"), Bill.reserved_fen).where(
                Bill.city_id == bill.city_id, Bill.id == bill.id
            )
        )
    ).one()
    paid, reserved = int(row.paid), int(row.reserved_fen)
    left = max(ceiling - paid - reserved, 0)
    raise Conflict(
        f"bill {bill.bill_ref} can take {left} fen more ({paid} fen paid and {reserved} fen"
        f" held by payments under way, of its {ceiling})",
        code="bill_amount_exceeded",
        field="amount_fen",
        left_fen=left,
        remaining_fen=max(bill.amount_fen - paid, 0),
    )


def _per_bill(amounts: Iterable[tuple[int, int, int]]) -> list[tuple[tuple[int, int], int]]:
    per_bill: dict[tuple[int, int], int] = defaultdict(int)
    for city_id, bill_id, fen in amounts:
        per_bill[city_id, bill_id] += fen
    return sorted(per_bill.items())  # one order: no deadlocks


def _less(column: Any, fen: int) -> Any:
    return case((column > fen, column - fen), else_=0)


async def release(*, session: AsyncSession, amounts: Iterable[tuple[int, int, int]]) -> None:
    """Give reservations back to their bills: (city id, bill id, fen), summed per bill."""
    for (city_id, bill_id), fen in _per_bill(amounts):
        await session.execute(
            update(Bill)
            .where(Bill.city_id == city_id, Bill.id == bill_id)
            .values(reserved_fen=_less(Bill.reserved_fen, fen))
            .execution_options(synchronize_session=False)
        )


async def settle(*, session: AsyncSession, payment: Payment) -> None:
    """The biller accepted the payment: its amount is paid against the bill (one statement):
    an exact-amount bill held by the payment is paid, a shared bill's reservation is let go."""
    values: dict[str, Any] = {"paid_fen": Bill.paid_fen + payment.amount_fen}
    if payment.holds_bill:  # the exact-amount bill its payment holds is paid
        held = Bill.paying_payment_id == payment.id
        values["status"] = case((held, "paid"), else_=Bill.status)
    else:
        values["reserved_fen"] = _less(Bill.reserved_fen, payment.amount_fen)
    await session.execute(
        update(Bill)
        .where(Bill.city_id == payment.city_id, Bill.id == payment.bill_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def unpay(*, session: AsyncSession, city_id: int, bill_id: int, amount_fen: int) -> None:
    """A refund: what was paid against the bill is lower by its amount."""
    await session.execute(
        update(Bill)
        .where(Bill.city_id == city_id, Bill.id == bill_id)
        .values(paid_fen=_less(Bill.paid_fen, amount_fen))
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
