"""Payments: quote, confirm exactly once, read. What happens after (the biller's answer,
refunds) is in `flows`; the ledger's postings are in `ledger`.

A confirmation is one conditional `UPDATE payments SET status = 'confirmed' ... WHERE status =
'quoted' AND quote_expires_at > now`: of any number of concurrent confirmations exactly one
changes the row, and only that one posts to the ledger and asks the outbox to pay the biller.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Row, Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from cityhub import outbox
from cityhub.billing import allowance, ledger
from cityhub.billing import bills as bill_lookup
from cityhub.billing.models import AmountRule, Bill, Payment, PaymentStatus
from cityhub.billing.schemas import PaymentConfirm, PaymentCreate, PaymentRead
from cityhub.cities.models import City, Service
from cityhub.connectors import types
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

PAY_BILLER = "billing.pay_biller"


def new_id(prefix: str) -> str:
    """A public id: a prefix and 32 random hex digits."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class PaymentView:
    """A payment with the bill and service it is for, as answers show it."""

    payment: Payment
    bill: Bill
    service: Service
    city_slug: str

    def read(self, now: dt.datetime | None = None) -> PaymentRead:
        """The API shape; a quote past its expiry reads as expired."""
        p, b = self.payment, self.bill
        return PaymentRead(
            id=p.public_id,
            city=self.city_slug,
            service=self.service.code,
            account=b.account,
            bill_id=b.bill_ref,
            period=b.period,
            user_id=p.user_id,
            amount_fen=p.amount_fen,
            fee_fen=p.fee_fen,
            total_fen=p.total_fen,
            currency=p.currency,
            status=effective_status(p, now),
            quote_expires_at=p.quote_expires_at,
            channel_txn_id=p.channel_txn_id,
            provider_ref=p.provider_ref,
            refunded_fen=p.refunded_fen,
            failure_code=p.failure_code,
            failure_detail=p.failure_detail,
            created_at=p.created_at,
            confirmed_at=p.confirmed_at,
            completed_at=p.completed_at,
            failed_at=p.failed_at,
        )


def effective_status(payment: Payment, now: dt.datetime | None = None) -> PaymentStatus:
    """The payment's status, counting a quote past its expiry as expired."""
    if payment.status == PaymentStatus.QUOTED and payment.quote_expires_at <= (now or utcnow()):
        return PaymentStatus.EXPIRED
    return payment.status


def _views(city_id: int) -> Select[Payment, Bill, Service, str]:
    return (
        select(Payment, Bill, Service, City.slug)
        .join(Bill, Bill.id == Payment.bill_id)
        .join(Service, Service.id == Payment.service_id)
        .join(City, City.id == Payment.city_id)
        .where(Payment.city_id == city_id)
    )


def _view(row: Row[Payment, Bill, Service, str]) -> PaymentView:
    payment, bill, service, city_slug = row
    return PaymentView(payment, bill, service, city_slug)


async def get_view_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None
) -> PaymentView:
    """A payment of the city (of the channel, when one is given), or NotFound."""
    query = _views(city_id).where(Payment.public_id == public_id)
    if channel_id is not None:
        query = query.where(Payment.channel_id == channel_id)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no payment {public_id!r}", code="payment_not_found")
    return _view(row)


async def get_view_by_id(*, session: AsyncSession, city_id: int, payment_id: int) -> PaymentView:
    """A payment by its row id (for the outbox and flows)."""
    row = (await session.execute(_views(city_id).where(Payment.id == payment_id))).first()
    if row is None:
        raise NotFound(f"no payment {payment_id}", code="payment_not_found")
    return _view(row)


async def get_all(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int | None,
    status: PaymentStatus | None = None,
    after: int | None = None,
    limit: int = 50,
    providers: frozenset[str] | None = None,
) -> list[tuple[int, PaymentView]]:
    """A city's payments (a channel's own, when given; of these providers' services, when
    given), newest first, with their row ids."""
    query = _views(city_id).order_by(Payment.id.desc()).limit(limit)
    if channel_id is not None:
        query = query.where(Payment.channel_id == channel_id)
    if providers is not None:
        query = query.where(Service.provider.in_(sorted(providers)))
    if status == PaymentStatus.EXPIRED:
        query = query.where(
            (Payment.status == PaymentStatus.EXPIRED)
            | ((Payment.status == PaymentStatus.QUOTED) & (Payment.quote_expires_at <= utcnow()))
        )
    elif status == PaymentStatus.QUOTED:
        query = query.where(Payment.status == status, Payment.quote_expires_at > utcnow())
    elif status is not None:
        query = query.where(Payment.status == status)
    if after:
        query = query.where(Payment.id < after)
    return [(row[0].id, _view(row)) for row in (await session.execute(query)).all()]


async def create(
    *, session: AsyncSession, city: City, channel_id: int, payment_in: PaymentCreate
) -> PaymentView:
    """Quote a payment of a bill that was shown: the amount to charge and until when."""
    service, terms = await bill_lookup.usable_service(
        session=session, city=city, channel_id=channel_id, code=payment_in.service
    )
    bill = await bill_lookup.get_kept_or_raise(
        session=session, city_id=city.id, service_id=service.id, bill_ref=payment_in.bill_id
    )
    if payment_in.currency != bill.currency:
        raise Unprocessable(
            f"the bill is in {bill.currency}", code="currency_mismatch", field="currency"
        )
    if bill.status == "paid":
        raise Conflict(
            f"bill {bill.bill_ref} is already paid", code="bill_already_paid", field="bill_id"
        )
    if terms.amount_rule == AmountRule.EXACT and bill.paying_payment_id is not None:
        raise Conflict(
            f"bill {bill.bill_ref} is being paid by another payment",
            code="bill_being_paid",
            field="bill_id",
        )
    terms.check_amount(payment_in.amount_fen, bill.amount_fen)
    now = utcnow()
    terms.check_open(now, city.timezone)
    if terms.amount_rule != AmountRule.EXACT:  # shared bills: only what is left of it
        await allowance.reserve(
            session=session, bill=bill, amount_fen=payment_in.amount_fen, terms=terms
        )
    return await _quote(
        session,
        city=city,
        channel_id=channel_id,
        service=service,
        bill=bill,
        user_id=payment_in.user_id,
        amount_fen=payment_in.amount_fen,
        fee_fen=terms.fee(payment_in.amount_fen),
        holds_bill=terms.amount_rule == AmountRule.EXACT,
        expires_at=now + dt.timedelta(seconds=terms.quote_seconds),
    )


async def _quote(
    session: AsyncSession,
    *,
    city: City,
    channel_id: int,
    service: Service,
    bill: Bill,
    user_id: str | None,
    amount_fen: int,
    fee_fen: int,
    holds_bill: bool,
    expires_at: dt.datetime,
) -> PaymentView:
    values = {
        "city_id": city.id,
        "public_id": new_id("pay"),
        "channel_id": channel_id,
        "service_id": service.id,
        "bill_id": bill.id,
        "user_id": user_id,
        "amount_fen": amount_fen,
        "fee_fen": fee_fen,
        "total_fen": amount_fen + fee_fen,
        "currency": bill.currency,
        "holds_bill": holds_bill,
        "status": PaymentStatus.QUOTED,
        "quote_expires_at": expires_at,
        "refunded_fen": 0,
        "biller_attempts": 0,
        "created_at": utcnow(),
    }
    # One INSERT ... RETURNING, without the unit of work's bookkeeping (the hot path).
    payment_id = await session.scalar(insert(Payment).values(values).returning(Payment.id))
    payment = Payment(id=payment_id, **values)
    return PaymentView(payment, bill, service, city.slug)


async def quote_charge(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    service: Service,
    charge: types.Bill,
    user_id: str | None,
    expires_at: dt.datetime,
) -> PaymentView:
    """Quote a payment of a charge the hub itself raised for a service (a hospital's
    registration fee): the charge is kept as the bill, the service is the payee, and the
    payment goes on like any other (confirm, the payee's answer, ledger, webhooks)."""
    [bill] = await bill_lookup.keep(
        session=session, city_id=city.id, service_id=service.id, bills=[charge]
    )
    return await _quote(
        session,
        city=city,
        channel_id=channel_id,
        service=service,
        bill=bill,
        user_id=user_id,
        amount_fen=charge.amount_fen,
        fee_fen=0,
        holds_bill=True,
        expires_at=expires_at,
    )


async def expire_quote(*, session: AsyncSession, city_id: int, payment_id: int) -> bool:
    """Expire one quote that was not confirmed (whether this call did): after it, the payment
    can no longer be confirmed, so what the quote held may be let go."""
    result = await session.execute(
        update(Payment)
        .where(
            Payment.city_id == city_id,
            Payment.id == payment_id,
            Payment.status == PaymentStatus.QUOTED,
        )
        .values(status=PaymentStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


async def confirm(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    public_id: str,
    confirm_in: PaymentConfirm,
) -> PaymentView:
    """The channel charged its user: post to the ledger and have the biller paid, once."""
    view = await get_view_or_raise(
        session=session, city_id=city.id, public_id=public_id, channel_id=channel_id
    )
    payment = view.payment
    if confirm_in.currency != payment.currency:
        raise Unprocessable(
            f"the payment is in {payment.currency}", code="currency_mismatch", field="currency"
        )
    if confirm_in.amount_fen != payment.total_fen:
        raise Unprocessable(
            f"the payment's amount to charge is {payment.total_fen}, not {confirm_in.amount_fen}",
            code="amount_mismatch",
            field="amount_fen",
        )
    now = utcnow()
    try:
        changed = await session.execute(
            update(Payment)
            .where(
                Payment.id == payment.id,
                Payment.status == PaymentStatus.QUOTED,
                Payment.quote_expires_at > now,
            )
            .values(
                status=PaymentStatus.CONFIRMED,
                channel_txn_id=confirm_in.channel_txn_id,
                confirmed_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    except IntegrityError:  # the unique (channel, transaction id): the request rolls back
        raise Conflict(
            f"transaction {confirm_in.channel_txn_id!r} already confirmed another payment",
            code="channel_txn_id_used",
            field="channel_txn_id",
        ) from None
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(payment)
        raise _why_not_confirmed(payment, now)
    if payment.holds_bill:
        await _hold_bill(session, view)
    await ledger.post(
        session=session,
        city_id=city.id,
        kind="payment.confirmed",
        currency=payment.currency,
        lines=[
            (ledger.channel_receivable(channel_id), payment.total_fen),
            (ledger.biller_pending(payment.service_id), -payment.amount_fen),
            (ledger.FEES, -payment.fee_fen),
        ],
        payment_id=payment.id,
        memo=f"{payment.public_id} confirmed as {confirm_in.channel_txn_id}",
    )
    await outbox.enqueue(
        session=session,
        topic=PAY_BILLER,
        city_id=city.id,
        payload={"payment_id": payment.id, "channel_id": channel_id, "attempt": 1},
    )
    # What the UPDATE wrote, without reading the row back (nor writing it again at the flush).
    set_committed_value(payment, "status", PaymentStatus.CONFIRMED)
    set_committed_value(payment, "channel_txn_id", confirm_in.channel_txn_id)
    set_committed_value(payment, "confirmed_at", now)
    return view


async def _hold_bill(session: AsyncSession, view: PaymentView) -> None:
    """An exact-amount bill is held by the one payment confirmed for it."""
    held = await session.execute(
        update(Bill)
        .where(Bill.id == view.bill.id, Bill.paying_payment_id.is_(None))
        .values(paying_payment_id=view.payment.id)
        .execution_options(synchronize_session=False)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"bill {view.bill.bill_ref} is being paid by another payment",
            code="bill_being_paid",
            field="bill_id",
        )


def _why_not_confirmed(payment: Payment, now: dt.datetime) -> Conflict:
    if payment.status == PaymentStatus.QUOTED or payment.status == PaymentStatus.EXPIRED:
        return Conflict(
            f"the quote expired at {payment.quote_expires_at.isoformat()}; create a new payment",
            code="quote_expired",
        )
    return Conflict(
        f"the payment is already {payment.status.value} (transaction {payment.channel_txn_id})",
        code="already_confirmed",
        status_now=payment.status.value,
    )


async def expire_quotes(
    *, session: AsyncSession, city_id: int | None = None, now: dt.datetime | None = None
) -> int:
    """Mark quotes past their expiry as expired; how many."""
    query = update(Payment).where(
        Payment.status == PaymentStatus.QUOTED, Payment.quote_expires_at <= (now or utcnow())
    )
    if city_id is not None:
        query = query.where(Payment.city_id == city_id)
    result = await session.execute(
        query.values(status=PaymentStatus.EXPIRED)
        .returning(Payment.bill_id, Payment.amount_fen, Payment.holds_bill)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    # What the expired quotes of shared bills had reserved goes back to their bills.
    await allowance.release(
        session=session, amounts=[(r.bill_id, r.amount_fen) for r in rows if not r.holds_bill]
    )
    return len(rows)
