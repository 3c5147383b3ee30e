"""Payments: quote, confirm exactly once, read. What happens after (the biller's answer,
refunds) is in `flows`; the ledger's postings are in `ledger`.

A confirmation is one conditional `UPDATE payments SET status = 'confirmed' ... WHERE status =
'quoted' AND quote_expires_at > now AND total_fen = <the amount charged> ... RETURNING`: of any
number of concurrent confirmations exactly one changes the row, and only that one posts to the
ledger and asks the outbox to pay the biller. The row comes back from that statement (nothing
is read before it); only a confirmation that changed nothing reads the payment, to say why,
and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.billing import allowance, confirming, ledger, sandbox, sql, standing
from cityhub.billing import bills as bill_lookup
from cityhub.billing.models import AmountRule, Bill, Payment, PaymentStatus
from cityhub.billing.schemas import PaymentConfirm, PaymentCreate, PaymentRead
from cityhub.billing.search import status_clause
from cityhub.cities import service as cities
from cityhub.connectors import types
from cityhub.platform.clock import today_in
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unprocessable
from cityhub.subsidies import payments as subsidies

if TYPE_CHECKING:
    from cityhub.billing.duplicates import DuplicateRefund
    from cityhub.cities.models import City, Service

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
        """The API shape; a quote past its expiry reads as expired. Built without validation:
        every value comes from the payment's typed columns (validating the hub's own output
        costs about as much as the rest of building the answer)."""
        p, b = self.payment, self.bill
        return PaymentRead.model_construct(
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
            subsidy_fen=p.subsidy_fen,
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
            mode="test" if p.sandbox else "live",
        )


def effective_status(payment: Payment, now: dt.datetime | None = None) -> PaymentStatus:
    """The payment's status, counting a quote past its expiry as expired."""
    if payment.status == PaymentStatus.QUOTED and payment.quote_expires_at <= (now or utcnow()):
        return PaymentStatus.EXPIRED
    return payment.status


def _rows(city_id: int) -> Select[Payment, Bill]:
    return (
        select(Payment, Bill)
        .join(Bill, (Bill.city_id == Payment.city_id) & (Bill.id == Payment.bill_id))
        .where(Payment.city_id == city_id)
    )


async def views_of(
    *, session: AsyncSession, city_id: int, rows: Sequence[tuple[Payment, Bill]]
) -> list[PaymentView]:
    """The views of payments read with their bills: their services and city through the
    cities' service (each read once per session)."""
    city = await cities.get_city(session=session, city_id=city_id)
    assert city is not None
    ids = {payment.service_id for payment, _ in rows}
    services = {i: await _service(session, city_id, i) for i in ids}
    return [PaymentView(p, b, services[p.service_id], city.slug) for p, b in rows]


async def _service(session: AsyncSession, city_id: int, service_id: int) -> Service:
    found = await cities.get_service(session=session, city_id=city_id, service_id=service_id)
    assert found is not None  # a payment's service is never deleted (a foreign key)
    return found


async def get_view_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, channel_id: int | None
) -> PaymentView:
    """A payment of the city (of the channel, when one is given), or NotFound."""
    query = _rows(city_id).where(Payment.public_id == public_id)
    if channel_id is not None:
        query = query.where(Payment.channel_id == channel_id)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"no payment {public_id!r}", code="payment_not_found")
    [view] = await views_of(session=session, city_id=city_id, rows=[(row[0], row[1])])
    return view


async def get_view_by_id(*, session: AsyncSession, city_id: int, payment_id: int) -> PaymentView:
    """A payment by its row id (for the outbox and flows)."""
    row = (await session.execute(_rows(city_id).where(Payment.id == payment_id))).first()
    if row is None:
        raise NotFound(f"no payment {payment_id}", code="payment_not_found")
    [view] = await views_of(session=session, city_id=city_id, rows=[(row[0], row[1])])
    return view


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
    query = _rows(city_id).order_by(Payment.id.desc()).limit(limit)
    if channel_id is not None:
        query = query.where(Payment.channel_id == channel_id)
    if providers is not None:
        query = query.where(
            Payment.service_id.in_(
                await cities.service_ids_of_providers(
                    session=session, city_id=city_id, providers=providers
                )
            )
        )
    if status is not None:
        query = query.where(status_clause(status))
    if after:
        query = query.where(Payment.id < after)
    rows = [(payment, bill) for payment, bill in (await session.execute(query)).all()]
    views = await views_of(session=session, city_id=city_id, rows=rows)
    return [(payment.id, view) for (payment, _), view in zip(rows, views, strict=True)]


async def create(
    *, session: AsyncSession, city: City, channel_id: int, payment_in: PaymentCreate
) -> PaymentView:
    """Quote a payment of a bill that was shown: the amount to charge and until when."""
    service = await bill_lookup.granted_service(
        session=session, city=city, channel_id=channel_id, code=payment_in.service
    )
    bill, terms = await bill_lookup.get_kept_with_terms_or_raise(
        session=session, city_id=city.id, service_id=service.id, bill_ref=payment_in.bill_id
    )
    if payment_in.currency != bill.currency:
        raise Unprocessable(
            f"the bill is in {bill.currency}", code="currency_mismatch", field="currency"
        )
    # Withdrawn, past its last day, or paid (unless advance terms take more): 409 saying so.
    now_standing = standing.check_payable(
        bill, today_in(city.timezone), advance=terms.amount_rule == AmountRule.ADVANCE
    )
    if terms.amount_rule == AmountRule.EXACT and bill.paying_payment_id is not None:
        raise Conflict(
            f"bill {bill.bill_ref} is being paid by another payment",
            code="bill_being_paid",
            field="bill_id",
        )
    terms.check_amount(payment_in.amount_fen, bill.amount_fen, now_standing.remaining_fen)
    now = utcnow()
    terms.check_open(now, city.timezone)
    if terms.amount_rule != AmountRule.EXACT:  # shared bills: only what is left of it
        await allowance.reserve(
            session=session, bill=bill, amount_fen=payment_in.amount_fen, terms=terms
        )
    public_id, expires_at = new_id("pay"), now + dt.timedelta(seconds=terms.quote_seconds)
    subsidy_fen = 0
    if payment_in.subsidy_claim is not None:  # the claim is taken for this quote
        subsidy_fen = await subsidies.apply(
            session=session, city_id=city.id, channel_id=channel_id, user_id=payment_in.user_id,
            service=service, amount_fen=payment_in.amount_fen, currency=bill.currency,
            claim_id=payment_in.subsidy_claim, payment_public_id=public_id,
            quote_expires_at=expires_at,
        )  # fmt: skip
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
        expires_at=expires_at,
        public_id=public_id,
        subsidy_fen=subsidy_fen,
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
    public_id: str | None = None,
    subsidy_fen: int = 0,
) -> PaymentView:
    values: dict[str, Any] = {
        "city_id": city.id,
        "public_id": public_id or new_id("pay"),
        "channel_id": channel_id,
        "service_id": service.id,
        "bill_id": bill.id,
        "user_id": user_id,
        "amount_fen": amount_fen,
        "fee_fen": fee_fen,
        "total_fen": amount_fen + fee_fen - subsidy_fen,
        "subsidy_fen": subsidy_fen,
        "currency": bill.currency,
        "holds_bill": holds_bill,
        "status": PaymentStatus.QUOTED,
        "quote_expires_at": expires_at,
        "refunded_fen": 0,
        "biller_attempts": 0,
        "sandbox": bill.bill_ref.startswith(sandbox.BILL_PREFIX),  # a sandbox bill's payment
        "created_at": utcnow(),
    }
    # One INSERT ... RETURNING, compiled once, without the unit of work's bookkeeping.
    made = await sql.INSERT_PAYMENT.first(session, values)
    assert made is not None
    payment = Payment(id=made["id"], **values)
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
    confirmed = await confirming.confirm_row(
        session, city=city, channel_id=channel_id, public_id=public_id, confirm_in=confirm_in
    )
    if confirmed is None:  # nothing was written: say why
        raise await _why_not_confirmed(session, city, channel_id, public_id, confirm_in)
    payment, bill = confirmed
    await ledger.post(
        session=session,
        city_id=city.id,
        kind="payment.confirmed",
        currency=payment.currency,
        lines=sandbox.lines(
            payment,
            [
                (ledger.channel_receivable(channel_id), payment.total_fen + payment.subsidy_fen),
                (ledger.biller_pending(payment.service_id), -payment.amount_fen),
                (ledger.FEES, -payment.fee_fen),
            ],
        ),
        payment_id=payment.id,
        memo=f"{payment.public_id} confirmed as {confirm_in.channel_txn_id}",
    )
    if payment.subsidy_fen:  # the subsidy is its own posting, the claim used once
        await subsidies.confirmed(session=session, payment=payment)
    await outbox.enqueue(
        session=session,
        topic=PAY_BILLER,
        city_id=city.id,
        payload={"payment_id": payment.id, "channel_id": channel_id, "attempt": 1},
    )
    service = await _service(session, city.id, payment.service_id)
    return PaymentView(payment, bill, service, city.slug)


async def _why_not_confirmed(
    session: AsyncSession,
    city: City,
    channel_id: int,
    public_id: str,
    confirm_in: PaymentConfirm,
) -> Exception:
    """Why a confirmation changed nothing, checked in the order a reader expects: no such
    payment, another currency or amount, then its state."""
    payment = await session.scalar(
        select(Payment).where(
            Payment.city_id == city.id,
            Payment.public_id == public_id,
            Payment.channel_id == channel_id,
        )
    )
    if payment is None:
        return NotFound(f"no payment {public_id!r}", code="payment_not_found")
    if confirm_in.currency != payment.currency:
        return Unprocessable(
            f"the payment is in {payment.currency}", code="currency_mismatch", field="currency"
        )
    if confirm_in.amount_fen != payment.total_fen:
        return Unprocessable(
            f"the payment's amount to charge is {payment.total_fen}, not {confirm_in.amount_fen}",
            code="amount_mismatch",
            field="amount_fen",
        )
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
        .returning(Payment.city_id, Payment.bill_id, Payment.amount_fen, Payment.holds_bill)
        .execution_options(synchronize_session=False)
    )
    rows = result.all()
    # What the expired quotes of shared bills had reserved goes back to their bills.
    await allowance.release(
        session=session,
        amounts=[(r.city_id, r.bill_id, r.amount_fen) for r in rows if not r.holds_bill],
    )
    return len(rows)


async def refund_duplicate(
    *, session: AsyncSession, view: PaymentView, reason: str, requested_by: str
) -> DuplicateRefund | None:
    """If the ledger shows the payment's bill paid twice by its user, the second payment
    refunded in full, once; None if it does not."""
    from cityhub.billing import duplicates  # it calls the flows, which import this module

    return await duplicates.refund_second(
        session=session, view=view, reason=reason, requested_by=requested_by
    )
