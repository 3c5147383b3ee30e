"""A confirmation's one conditional UPDATE (`service.confirm`), and the hold on an
exact-amount bill by the one payment confirmed for it: on PostgreSQL both in one statement,
on SQLite one after the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import sql
from cityhub.billing.models import Bill, Payment
from cityhub.billing.schemas import PaymentConfirm
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def confirm_row(
    session: AsyncSession,
    *,
    city: City,
    channel_id: int,
    public_id: str,
    confirm_in: PaymentConfirm,
) -> tuple[Payment, Bill] | None:
    """The one conditional UPDATE of a confirmation, and the payment's bill (held, for an
    exact amount); None when it changed nothing. On PostgreSQL both in one statement."""
    now = utcnow()
    values = {
        "w_city": city.id, "w_public_id": public_id, "w_channel": channel_id,
        "w_currency": confirm_in.currency, "w_total": confirm_in.amount_fen, "w_now": now,
        "channel_txn_id": confirm_in.channel_txn_id, "confirmed_at": now,
    }  # fmt: skip
    together = session.get_bind().dialect.name == "postgresql"
    try:
        row = await (sql.CONFIRM_AND_HOLD if together else sql.CONFIRM).first(session, values)
    except IntegrityError:  # the unique (channel, transaction id): the request rolls back
        raise Conflict(
            f"transaction {confirm_in.channel_txn_id!r} already confirmed another payment",
            code="channel_txn_id_used",
            field="channel_txn_id",
        ) from None
    if row is None:
        return None
    payment = Payment(**{key: row[key] for key in sql.PAYMENT_COLUMNS})
    if not together:
        return payment, await bill_of(session, payment)
    bill = Bill(**{key: row[label] for key, label in sql.BILL_LABELS.items()})
    if payment.holds_bill and not row["held"]:
        raise _being_paid(bill)
    if payment.holds_bill:
        bill.paying_payment_id = payment.id
    return payment, bill


async def bill_of(session: AsyncSession, payment: Payment) -> Bill:
    """The payment's bill (SQLite's second statement); an exact-amount bill is held by the
    one payment confirmed for it."""
    if payment.holds_bill:
        held = await sql.HOLD_BILL.first(
            session, {"w_city": payment.city_id, "w_bill": payment.bill_id, "w_payment": payment.id}
        )
        if held is not None:
            return Bill(**held)
    bill = await session.scalar(
        select(Bill).where(Bill.city_id == payment.city_id, Bill.id == payment.bill_id)
    )
    assert bill is not None
    if payment.holds_bill:
        raise _being_paid(bill)
    return bill


def _being_paid(bill: Bill) -> Conflict:
    return Conflict(
        f"bill {bill.bill_ref} is being paid by another payment",
        code="bill_being_paid",
        field="bill_id",
    )
