"""The provider interface: one typed protocol per provider kind and the values they exchange.

The rest of the hub calls only these protocols; which implementation serves a service is the
service's `connector` and `connector_config` (see `registry`). Money is integer fen with a
currency code. Every value a provider sends back is parsed into these models, so a malformed
answer fails here (and becomes a 502) instead of deeper in the hub.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Value(BaseModel):
    """A value from or to a provider: immutable; unknown fields from providers are dropped."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Subject(Value):
    """The person a call is about (only what the provider needs to know)."""

    id_number: str
    name: str | None = None


# -- billers ------------------------------------------------------------------------------


class Bill(Value):
    """One bill of an account."""

    bill_id: str = Field(min_length=1, max_length=80)
    account: str = Field(min_length=1, max_length=80)
    period: str = Field(min_length=1, max_length=20, description="e.g. 2025-10")
    amount_fen: int = Field(ge=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    due_date: dt.date | None = None
    status: Literal["unpaid", "partially_paid", "paid", "expired", "cancelled"] = Field(
        default="unpaid",
        description="expired: past the days the biller takes payment; cancelled: withdrawn",
    )
    paid_fen: int | None = Field(
        default=None, ge=0, description="what the biller has recorded as paid of amount_fen"
    )
    payable_until: dt.date | None = Field(
        default=None, description="the last day the biller takes payment of the bill"
    )
    holder: str | None = Field(
        default=None, max_length=40, description="the account holder's name, masked: 谢*"
    )
    late_fee_fen: int | None = Field(default=None, ge=0, description="included in amount_fen")


class PaymentOrder(Value):
    """A payment the hub posts to a biller; `payment_id` is ours and makes it idempotent."""

    payment_id: str = Field(min_length=1, max_length=80)
    account: str
    bill_id: str
    amount_fen: int = Field(gt=0)
    currency: str = "CNY"


class PaymentReceipt(Value):
    """The biller's acknowledgement of a payment."""

    payment_id: str
    provider_ref: str = Field(min_length=1, max_length=120)
    status: Literal["accepted", "reversed"] = "accepted"


class Reversal(Value):
    """The biller's acknowledgement of a reversal."""

    payment_id: str
    status: Literal["reversed"] = "reversed"


class StatementLine(Value):
    """One movement on a biller's daily statement."""

    payment_id: str
    provider_ref: str
    bill_id: str
    amount_fen: int
    currency: str = "CNY"
    kind: Literal["payment", "reversal"]
    at: dt.datetime


class Statement(Value):
    """What the biller recorded on one day, for reconciliation."""

    day: dt.date
    lines: list[StatementLine]

    @property
    def total_fen(self) -> int:
        """Payments less reversals."""
        return sum(-ln.amount_fen if ln.kind == "reversal" else ln.amount_fen for ln in self.lines)


class Biller(Protocol):
    """A utility or agency that issues bills."""

    async def bills(self, *, account: str, fields: dict[str, str] | None = None) -> list[Bill]:
        """The account's bills, unpaid first; NotFound when the biller knows no such account.
        `fields`: the other fields the biller asks with the account (its catalogue's)."""
        ...

    async def pay(self, *, order: PaymentOrder) -> PaymentReceipt:
        """Post a payment; posting the same `payment_id` again answers the first receipt."""
        ...

    async def reverse(self, *, payment_id: str, reason: str) -> Reversal:
        """Undo a payment (idempotent by `payment_id`)."""
        ...

    async def statement(self, *, day: dt.date) -> Statement:
        """Everything the biller recorded on `day`."""
        ...


# -- hospitals ----------------------------------------------------------------------------


class Department(Value):
    id: str
    name: str
    names: dict[str, str] = {}  # translations by language (zh-Hans, zh-Hant, en)


class Practitioner(Value):
    id: str
    name: str
    department_id: str | None = None
    title: str | None = None
    titles: dict[str, str] = {}  # translations of the title by language


class Schedule(Value):
    id: str
    practitioner_id: str
    department_id: str | None = None
    service_type: str | None = None


class Slot(Value):
    id: str
    schedule_id: str
    start: dt.datetime
    end: dt.datetime
    status: Literal["free", "busy"]


class Booking(Value):
    """An appointment as the hospital holds it."""

    appointment_id: str
    booking_ref: str
    slot_id: str
    status: Literal["booked", "cancelled"]
    start: dt.datetime | None = None


class Hospital(Protocol):
    """A hospital's registration system."""

    async def departments(self) -> list[Department]:
        """The departments that take appointments."""
        ...

    async def practitioners(self, *, department_id: str | None = None) -> list[Practitioner]:
        """The practitioners, of one department when given."""
        ...

    async def schedules(self, *, practitioner_id: str) -> list[Schedule]:
        """A practitioner's schedules."""
        ...

    async def slots(
        self, *, schedule_id: str, start: dt.date, end: dt.date, free_only: bool = True
    ) -> list[Slot]:
        """The slots of a schedule from `start` up to (not including) `end`."""
        ...

    async def book(self, *, booking_ref: str, slot_id: str, patient: Subject) -> Booking:
        """Book a slot; the same `booking_ref` again answers the same appointment."""
        ...

    async def cancel(self, *, appointment_id: str) -> Booking:
        """Cancel an appointment (idempotent)."""
        ...


# -- record queries and eligibility ---------------------------------------------------------

Record = dict[str, Any]


class RecordQuery(Protocol):
    """An agency that answers named queries with records."""

    async def run(
        self, *, query: str, params: dict[str, Any], subject: Subject | None
    ) -> list[Record]:
        """The records for validated parameters; `subject` is the resident for personal
        queries (the provider refuses, as Forbidden, records that are not theirs)."""
        ...


class Eligibility(Value):
    eligible: bool
    reasons: list[str] = Field(default_factory=list)
    # Each reason by language, in the order of `reasons`, when the agency says them so.
    reason_texts: list[dict[str, str]] = Field(default_factory=list)


class EligibilityChecker(Protocol):
    """An agency that says whether a person may enter a lottery."""

    async def check(self, *, lottery: str, subject: Subject) -> Eligibility:
        """Eligible or not, and why not."""
        ...


# -- identity authorities (population registries) ---------------------------------------------


class IdentityCheck(Value):
    """A registry's answer: whether the name and number belong together, and what it made of a
    liveness (face-check) token the channel obtained, when one was sent."""

    match: bool
    liveness: Literal["passed", "failed", "not_checked"] = "not_checked"


class IdentityAuthority(Protocol):
    """The city's population registry."""

    async def check(
        self, *, name: str, id_number: str, liveness_token: str | None
    ) -> IdentityCheck:
        """Whether `name` and `id_number` belong to one person; a token is checked to belong
        to that same person."""
        ...
