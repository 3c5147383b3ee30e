"""API shapes of bills, payments, refunds and biller terms. Money: integer fen and a currency."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from cityhub.billing.enums import BillStatus
from cityhub.billing.models import (
    AmountRule,
    BillerSubType,
    PaymentStatus,
    RefundRequestStatus,
    RefundRule,
    RefundSource,
)
from cityhub.platform import patterns

CURRENCY = r"^[A-Z]{3}$"
RESERVED = {"limit", "cursor", "code", "city"}  # query parameters the look-up has already
# Strict: 12.5, 1200.0, "1200" and true are all refused; money is a whole number of fen.
Fen = Annotated[StrictInt, Field(gt=0, le=10**12, description="minor units (fen)")]
FenOrZero = Annotated[StrictInt, Field(ge=0, le=10**12, description="minor units (fen)")]
Currency = Annotated[str, Field(pattern=CURRENCY, description="ISO 4217 code, e.g. CNY")]


class Input(BaseModel):
    """Inputs refuse fields they do not know, so nothing is silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FieldLabels(Input):
    """A field's label in the three languages the hub speaks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    zh_hans: str = Field(alias="zh-Hans", min_length=1, max_length=40)
    zh_hant: str = Field(alias="zh-Hant", min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=40)


class BillerField(Input):
    """A field a customer fills in to look their bills up."""

    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,29}$", description="the query parameter that carries it"
    )
    labels: FieldLabels
    pattern: str = Field(
        min_length=1, max_length=200, description="RE2: the whole value must match"
    )
    example: str | None = Field(default=None, max_length=80)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            patterns.compile_pattern(value)
        except patterns.PatternError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _example_fits(self) -> BillerField:
        if self.example is not None and not patterns.fullmatch(self.pattern, self.example):
            raise ValueError(f"the example of {self.name} does not match its pattern")
        return self


class TermsIn(Input):
    account_pattern: str = Field(
        default=r"^[A-Za-z0-9-]{1,40}$",
        min_length=1,
        max_length=200,
        description="a regular expression (RE2 syntax) the whole account number must match",
    )
    amount_rule: AmountRule = AmountRule.EXACT
    min_fen: Fen = 1
    max_fen: Fen | None = Field(default=None, description="required for `advance`")
    multiple_fen: Fen = Field(
        default=1, description="partial and advance amounts in multiples of this (100: yuan)"
    )
    fee_fixed_fen: FenOrZero = 0
    fee_rate_bps: Annotated[StrictInt, Field(ge=0, le=1000)] = 0
    accept_from: dt.time | None = Field(default=None, description="HH:MM in the city's time")
    accept_until: dt.time | None = None
    quote_seconds: Annotated[StrictInt, Field(ge=30, le=86_400)] = 900
    refund_rule: RefundRule = Field(
        default=RefundRule.STAFF,
        description="who decides a channel's refund request: `staff` (the city's staff or the "
        "biller), `channel` (refunded at once), `none` (no requests)",
    )
    refund_days: Annotated[StrictInt, Field(ge=0, le=3650)] = Field(
        default=30, description="days after completion a channel may ask for a refund"
    )
    sub_type: BillerSubType = BillerSubType.OTHER
    fields: list[BillerField] | None = Field(
        default=None,
        max_length=6,
        description="what a customer fills in, the account first (none: one `account` field "
        "of `account_pattern`)",
    )

    @field_validator("account_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            patterns.compile_pattern(value)  # linear-time: no pattern can stall a look-up
        except patterns.PatternError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TermsIn:
        if (self.accept_from is None) != (self.accept_until is None):
            raise ValueError("accept_from and accept_until go together")
        if self.amount_rule == AmountRule.ADVANCE and self.max_fen is None:
            raise ValueError("advance payments need max_fen")
        if self.max_fen is not None and self.max_fen < self.min_fen:
            raise ValueError("max_fen is below min_fen")
        names = [f.name for f in self.fields or ()]
        if len(set(names)) != len(names):
            raise ValueError("two fields have the same name")
        if set(names) & RESERVED:
            raise ValueError(f"a field may not be named {', '.join(sorted(RESERVED))}")
        return self


class TermsRead(TermsIn):
    service: str
    stored: bool = Field(description="false: the defaults, nothing stored yet")


class BillRead(BaseModel):
    bill_id: str = Field(description="the biller's id of the bill")
    account: str
    period: str
    amount_fen: int
    currency: str
    due_date: dt.date | None
    status: BillStatus = Field(
        description="unpaid, partially_paid (paid_fen of it paid, remaining_fen left), paid,"
        " expired (past the biller's last day of payment: not payable) or cancelled (withdrawn"
        " by the biller: not payable); from the biller's answer and the hub's payments"
    )
    min_fen: int = Field(description="the least that may be paid against it")
    max_fen: int | None = Field(description="the most that may be paid (none: no limit)")
    holder: str | None = Field(
        default=None, description="the account holder's name, masked as the biller masks it"
    )
    late_fee_fen: int | None = Field(
        default=None, description="the late fee the biller charged, included in amount_fen"
    )
    sub_type: BillerSubType = BillerSubType.OTHER
    paid_fen: int = Field(
        default=0,
        description="what was paid of it, through every channel (and at the biller, if it says)",
    )
    remaining_fen: int = Field(default=0, description="what is left to pay of amount_fen")
    payable_until: dt.date | None = Field(
        default=None, description="the last day the biller takes payment of it, if it says"
    )


class BillsRead(BaseModel):
    service: str
    account: str
    sub_type: BillerSubType = BillerSubType.OTHER
    amount_rule: AmountRule
    fee_fixed_fen: int
    fee_rate_bps: int
    bills: list[BillRead]


class PaymentCreate(Input):
    service: str = Field(min_length=1, max_length=60, description="the bill service's code")
    bill_id: str = Field(min_length=1, max_length=80, description="as the bill look-up showed")
    amount_fen: Fen
    currency: Currency
    user_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="the channel's own user id"
    )
    subsidy_claim: str | None = Field(
        default=None, max_length=40, description="the user's subsidy claim to use, sbc_..."
    )


class PaymentConfirm(Input):
    channel_txn_id: str = Field(
        min_length=1, max_length=80, description="the channel's id of the charge in its wallet"
    )
    amount_fen: Fen = Field(description="what the channel charged: the payment's total_fen")
    currency: Currency


class PaymentRead(BaseModel):
    id: str
    city: str
    service: str
    account: str
    bill_id: str
    period: str
    user_id: str | None
    amount_fen: int = Field(description="what the biller receives")
    fee_fen: int
    total_fen: int = Field(description="what the channel charges its user")
    subsidy_fen: int = Field(default=0, description="what a subsidy took off total_fen")
    currency: str
    status: PaymentStatus
    quote_expires_at: dt.datetime
    channel_txn_id: str | None
    provider_ref: str | None
    refunded_fen: int = Field(description="of amount_fen; the fee goes back with a full refund")
    failure_code: str | None
    failure_detail: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    completed_at: dt.datetime | None
    failed_at: dt.datetime | None
    mode: str = Field(
        default="live", description="`test`: made with sandbox credentials, paid to a simulator"
    )


class RefundCreate(Input):
    amount_fen: Fen = Field(description="of the bill's amount; the fee follows a full refund")
    currency: Currency
    reason: str = Field(min_length=1, max_length=200)


class BillerReversalCreate(Input):
    reason: str = Field(min_length=1, max_length=200)


class RefundRead(BaseModel):
    id: str
    payment_id: str
    amount_fen: int
    fee_fen: int
    total_fen: int = Field(description="what the channel gives back to its user")
    currency: str
    source: RefundSource
    reason: str
    biller_status: str
    created_at: dt.datetime


class SettleCreate(Input):
    day: dt.date


class BatchRead(BaseModel):
    id: int
    day: dt.date
    party: str
    party_id: int
    party_name: str
    account: str
    currency: str
    entries: int
    net_fen: int = Field(description="> 0: the hub pays the party; < 0: the party pays the hub")
    breakdown: dict[str, Any]
    created_at: dt.datetime


class ReconcileCreate(Input):
    day: dt.date


class ReconciliationLine(BaseModel):
    party: str
    party_name: str
    line: str
    result: str
    payment_id: str
    hub_fen: int | None
    their_fen: int | None
    currency: str
    detail: str


class ReconciliationRead(BaseModel):
    city: str
    day: dt.date
    counts: dict[str, int]
    items: list[ReconciliationLine]


class StatementRead(BaseModel):
    day: dt.date
    lines: int
    uploaded_at: dt.datetime


class AccountRead(BaseModel):
    code: str
    kind: str
    currency: str
    balance_fen: int


class RefundRequestCreate(Input):
    amount_fen: Fen = Field(description="of the bill's amount; the fee follows a full refund")
    currency: Currency
    reason: str = Field(min_length=1, max_length=200)


class RefundDecision(Input):
    approve: bool
    note: str = Field(default="", max_length=200)


class RefundRequestRead(BaseModel):
    id: str
    payment_id: str
    amount_fen: int
    currency: str
    reason: str
    status: RefundRequestStatus = Field(description="pending: waits for the staff or the biller")
    refund_id: str | None = Field(description="the refund made, once refunded")
    decision_note: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class ReceiptRead(BaseModel):
    """A completed payment's electronic receipt."""

    number: str
    payment_id: str
    city: str
    issued_at: dt.datetime = Field(description="when the biller accepted the payment (UTC)")
    issued_at_local: str = Field(description="the same in the city's time, as printed")
    timezone: str
    biller: str = Field(description="the biller's service code")
    biller_name: dict[str, str] = Field(description="its name by language: zh-Hans, zh-Hant, en")
    account_masked: str
    holder_masked: str | None = Field(description="the account holder as the biller masks it")
    amount_fen: int
    fee_fen: int
    total_fen: int
    currency: str
    refunded_fen: int
    channel: str = Field(description="the channel the payment was made through")
    provider_ref: str | None = Field(description="the biller's reference of the payment")
    verify_url: str = Field(description="the hub's verification page (what the QR code opens)")
    pdf_url: str


class ReceiptVerificationRead(BaseModel):
    """What verifying a receipt found."""

    valid: bool
    reason: str = Field(description="valid | forged | malformed | unknown | differs")
    receipt: ReceiptRead | None = Field(
        default=None, description="the receipt as the hub holds it (when the payment is known)"
    )


class BillerRead(BaseModel):
    """A biller as a channel draws its form from it."""

    code: str = Field(description="the service code; look bills up at /services/{code}/bills")
    names: dict[str, str] = Field(description="the service's name by language")
    provider: str
    sub_type: BillerSubType
    fields: list[BillerField] = Field(description="what a customer fills in, the account first")
    amount_rule: AmountRule
    min_fen: int
    max_fen: int | None
    multiple_fen: int = Field(description="partial and advance amounts in multiples of this")
    fee_fixed_fen: int
    fee_rate_bps: int
    accept_from: dt.time | None = Field(description="HH:MM in the city's time (none: all day)")
    accept_until: dt.time | None
    timezone: str = Field(description="the city's timezone, in which the hours are")
