"""Bill payments: biller terms, the bills shown, payments, refunds and the double-entry ledger.

Money is integer minor units (fen) with a currency code in every row that holds an amount.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Time, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.billing.enums import (
    AmountRule as AmountRule,
    BillerSubType as BillerSubType,
    PaymentStatus as PaymentStatus,
    RefundRequestStatus as RefundRequestStatus,
    RefundRule as RefundRule,
    RefundSource as RefundSource,
)

# isort: on
from cityhub.platform.db import (
    Base,
    BigId,
    JsonType,
    TenantMixin,
    str_enum,
    tenant_fk,
    utcnow,
)

Fen = BigInteger


class BillerTerms(TenantMixin, Base):
    """How a biller takes payments: the terms are data a city edits, not code."""

    __tablename__ = "biller_terms"
    __table_args__ = (
        UniqueConstraint("city_id", "service_id"),
        tenant_fk("service_id", "services", ondelete="CASCADE"),
    )

    service_id: Mapped[int] = mapped_column(BigId)
    account_pattern: Mapped[str] = mapped_column(String(200))
    amount_rule: Mapped[AmountRule] = mapped_column(str_enum(AmountRule, "amount_rule"))
    min_fen: Mapped[int] = mapped_column(Fen, default=1)
    max_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    # Partial and advance amounts in whole multiples of this (100: whole yuan).
    multiple_fen: Mapped[int] = mapped_column(Fen, default=1, server_default="1")
    fee_fixed_fen: Mapped[int] = mapped_column(Fen, default=0)
    fee_rate_bps: Mapped[int] = mapped_column(default=0)  # basis points of the amount
    accept_from: Mapped[dt.time | None] = mapped_column(Time(), default=None)  # city's time
    accept_until: Mapped[dt.time | None] = mapped_column(Time(), default=None)
    quote_seconds: Mapped[int] = mapped_column(default=900)
    # Refunds a channel asks for: who decides, and for how many days after completion.
    refund_rule: Mapped[RefundRule] = mapped_column(
        str_enum(RefundRule, "refund_rule"), default=RefundRule.STAFF, server_default="staff"
    )
    refund_days: Mapped[int] = mapped_column(default=30, server_default="30")
    # The catalogue: what kind of bill, and the fields a customer fills in to look bills up
    # (a list of {name, labels, pattern, example}; none: one `account` field of
    # `account_pattern`). See `billing.catalogue`.
    sub_type: Mapped[str] = mapped_column(String(20), default="other", server_default="other")
    fields: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Bill(TenantMixin, Base):
    """A bill as the biller showed it to a channel; payments are made against it."""

    __tablename__ = "bills"
    __table_args__ = (
        UniqueConstraint("city_id", "service_id", "bill_ref"),
        Index("ix_bills_city_account", "city_id", "account"),  # the console's account search
        tenant_fk("service_id", "services"),
    )

    service_id: Mapped[int] = mapped_column(BigId)
    account: Mapped[str] = mapped_column(String(80))
    bill_ref: Mapped[str] = mapped_column(String(80))  # the biller's id of the bill
    period: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[dt.date | None] = mapped_column(default=None)
    # As the biller said: unpaid | partially_paid | paid | expired | cancelled; what the hub
    # shows adds its own payments to it (see `billing.standing`).
    status: Mapped[str] = mapped_column(String(20))
    # The payment that holds an exact-amount bill from its confirmation on: a second payment
    # of the same bill is refused instead of being sent to the biller.
    paying_payment_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # What the hub's payments paid against the bill (completed, less refunds), and, under
    # partial and advance terms, what its payments under way hold (quoted and not expired,
    # confirmed): a new one takes what fits of the rest; see `billing.allowance`.
    paid_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")
    reserved_fen: Mapped[int] = mapped_column(Fen, default=0, server_default="0")
    # What the biller says was paid of it (by every channel and its own counters), and the
    # last day it takes payment of it, if it says.
    biller_paid_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    payable_until: Mapped[dt.date | None] = mapped_column(default=None)
    # As the biller sent them: the holder's name masked as the biller masks it (`谢*`; the hub
    # never holds more of it) and the late fee already in `amount_fen`, if the biller says.
    holder: Mapped[str | None] = mapped_column(String(40), default=None)
    late_fee_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Payment(TenantMixin, Base):
    """A channel's payment of one bill, from quote to the biller's answer."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("city_id", "channel_id", "channel_txn_id"),
        Index("ix_payments_city_channel", "city_id", "channel_id", "id"),
        Index("ix_payments_city_user", "city_id", "channel_id", "user_id", "id"),
        Index("ix_payments_city_confirmed", "city_id", "confirmed_at"),
        Index("ix_payments_city_completed", "city_id", "completed_at"),
        Index("ix_payments_city_created", "city_id", "created_at"),  # the console's date range
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("service_id", "services"),
        tenant_fk("bill_id", "bills"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    service_id: Mapped[int] = mapped_column(BigId)
    bill_id: Mapped[int] = mapped_column(BigId)
    user_id: Mapped[str | None] = mapped_column(String(128), default=None)
    amount_fen: Mapped[int] = mapped_column(Fen)  # what the biller gets
    fee_fen: Mapped[int] = mapped_column(Fen, default=0)  # what the hub keeps
    total_fen: Mapped[int] = mapped_column(Fen)  # what the channel charges its user
    # what a subsidy claim took off (paid by the city's campaign: subsidies/payments.py)
    subsidy_fen: Mapped[int] = mapped_column(Fen, server_default="0")  # no default: older
    # revisions (tests/test_migrations.py) insert payments without it
    currency: Mapped[str] = mapped_column(String(3))
    # Whether the payment holds its bill from confirmation on (the biller takes exact amounts).
    holds_bill: Mapped[bool] = mapped_column(default=False)
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, "payment_status"))
    quote_expires_at: Mapped[dt.datetime] = mapped_column()
    channel_txn_id: Mapped[str | None] = mapped_column(String(80), default=None)
    provider_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    refunded_fen: Mapped[int] = mapped_column(Fen, default=0)  # of `amount_fen`
    failure_code: Mapped[str | None] = mapped_column(String(60), default=None)
    failure_detail: Mapped[str | None] = mapped_column(String(400), default=None)
    biller_attempts: Mapped[int] = mapped_column(default=0)
    # Made with test credentials: paid to the sandbox's simulator, posted to `sandbox:`
    # accounts, and left out of every figure, settlement and reconciliation.
    sandbox: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    failed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Refund(TenantMixin, Base):
    """Money given back to the channel's user for a completed payment."""

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("payment_id", "payments"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[int] = mapped_column(BigId, index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)  # of the bill's part
    fee_fen: Mapped[int] = mapped_column(Fen, default=0)  # the fee, returned with the last part
    total_fen: Mapped[int] = mapped_column(Fen)  # what the channel gives back to its user
    currency: Mapped[str] = mapped_column(String(3))
    source: Mapped[RefundSource] = mapped_column(str_enum(RefundSource, "refund_source"))
    reason: Mapped[str] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(120))
    # A full refund by staff is told to the biller (a reversal): none | pending | reversed |
    # refused.
    biller_status: Mapped[str] = mapped_column(String(10), default="none")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RefundRequest(TenantMixin, Base):
    """A channel asks for a refund; the biller's terms say who decides (see `terms`)."""

    __tablename__ = "refund_requests"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        Index("ix_refund_requests_status", "city_id", "status", "id"),
        tenant_fk("payment_id", "payments"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[int] = mapped_column(BigId, index=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200))
    status: Mapped[RefundRequestStatus] = mapped_column(
        str_enum(RefundRequestStatus, "refund_request_status")
    )
    refund_public_id: Mapped[str | None] = mapped_column(String(40), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(120), default=None)
    decision_note: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class LedgerAccount(TenantMixin, Base):
    """An account of a city's ledger. `balance_fen` is the sum of its entries rolled up so far;
    the balance is that plus the entries not rolled up yet (see `billing.ledger`)."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("city_id", "code", "currency"),)

    code: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(12))  # asset | liability | revenue | clearing
    currency: Mapped[str] = mapped_column(String(3))
    balance_fen: Mapped[int] = mapped_column(Fen, default=0)  # debits positive, rolled up
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Posting(TenantMixin, Base):
    """One balanced movement: its entries sum to zero in their currency."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        Index("ix_ledger_postings_city_created", "city_id", "created_at"),
        tenant_fk("payment_id", "payments"),
        tenant_fk("refund_id", "refunds"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    refund_id: Mapped[int | None] = mapped_column(BigId, default=None)
    memo: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Entry(TenantMixin, Base):
    """One side of a posting on one account: positive is a debit, negative a credit."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_batch", "city_id", "account_id", "settlement_batch_id"),
        # The entries not yet added to their account's `balance_fen` (few: the roll-up job
        # takes them): what a balance adds to the stored part when it is read.
        Index(
            "ix_ledger_entries_not_rolled_up",
            "city_id",
            "account_id",
            postgresql_where=text("NOT rolled_up"),
            sqlite_where=text("NOT rolled_up"),
        ),
        tenant_fk("posting_id", "ledger_postings"),
        tenant_fk("account_id", "ledger_accounts"),
    )

    posting_id: Mapped[int] = mapped_column(BigId, index=True)
    account_id: Mapped[int] = mapped_column(BigId)
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3))
    # The settlement batch that paid this entry out (None: not settled yet).
    settlement_batch_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # Whether the amount is in the account's `balance_fen` yet (set once, by `ledger.roll_up`).
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SettlementBatch(TenantMixin, Base):
    """What one biller or channel is owed or owes for the entries up to the end of a day."""

    __tablename__ = "settlement_batches"
    __table_args__ = (
        UniqueConstraint("city_id", "day", "party", "party_id", "currency"),
        tenant_fk("account_id", "ledger_accounts"),
        tenant_fk("posting_id", "ledger_postings"),
    )

    day: Mapped[dt.date] = mapped_column()
    party: Mapped[str] = mapped_column(String(10))  # biller | channel
    party_id: Mapped[int] = mapped_column(BigInteger)  # the service or the channel
    account_id: Mapped[int] = mapped_column(BigId)
    currency: Mapped[str] = mapped_column(String(3))
    entries: Mapped[int] = mapped_column(default=0)
    net_fen: Mapped[int] = mapped_column(Fen, default=0)  # > 0: the hub pays the party
    breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    posting_id: Mapped[int | None] = mapped_column(BigId, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ChannelStatement(TenantMixin, Base):
    """A channel's own record of a day's charges and refunds (its uploaded CSV, parsed)."""

    __tablename__ = "channel_statements"
    __table_args__ = (Index("ix_channel_statements_day", "city_id", "channel_id", "day"),)

    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    day: Mapped[dt.date] = mapped_column()
    lines: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"lines": [...]}
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReconciliationItem(TenantMixin, Base):
    """One line of a day's reconciliation against a biller's or a channel's statement."""

    __tablename__ = "reconciliation_items"
    __table_args__ = (Index("ix_reconciliation_items_day", "city_id", "day", "party", "party_id"),)

    day: Mapped[dt.date] = mapped_column()
    party: Mapped[str] = mapped_column(String(10))  # biller | channel
    party_id: Mapped[int] = mapped_column(BigInteger)
    line: Mapped[str] = mapped_column(String(10))  # payment | refund
    result: Mapped[str] = mapped_column(String(24))  # matched | missing_at_... | ...
    payment_ref: Mapped[str] = mapped_column(String(80))
    hub_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    their_fen: Mapped[int | None] = mapped_column(Fen, default=None)
    currency: Mapped[str] = mapped_column(String(3))
    detail: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
