"""Every connector, whatever its implementation, is called through its provider's `Guard`.

Idempotent by contract (and so retried): reads, payments and reversals (the biller dedupes by
our payment id), bookings (conditional create on our booking reference) and cancellations.
A generic connector's description says per operation whether its provider dedupes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cityhub.connectors.resilience import Guard
from cityhub.connectors.types import (
    Bill,
    Biller,
    Booking,
    Department,
    Eligibility,
    EligibilityChecker,
    Hospital,
    IdentityAuthority,
    IdentityCheck,
    PaymentOrder,
    PaymentReceipt,
    Practitioner,
    Record,
    RecordQuery,
    Reversal,
    Schedule,
    Slot,
    Statement,
    Subject,
)


def _idempotent(inner: object, operation: str, default: bool = True) -> bool:
    check = getattr(inner, "idempotent", None)
    return bool(check(operation)) if callable(check) else default


class GuardedBiller:
    """A biller behind its guard."""

    def __init__(self, inner: Biller, guard: Guard) -> None:
        self.inner, self.guard = inner, guard

    async def bills(self, *, account: str, fields: dict[str, str] | None = None) -> list[Bill]:
        return await self.guard.call(
            "bills", lambda: self.inner.bills(account=account, fields=fields), idempotent=True
        )

    async def pay(self, *, order: PaymentOrder) -> PaymentReceipt:
        return await self.guard.call(
            "pay", lambda: self.inner.pay(order=order), idempotent=_idempotent(self.inner, "pay")
        )

    async def reverse(self, *, payment_id: str, reason: str) -> Reversal:
        return await self.guard.call(
            "reverse",
            lambda: self.inner.reverse(payment_id=payment_id, reason=reason),
            idempotent=_idempotent(self.inner, "reverse"),
        )

    async def statement(self, *, day: dt.date) -> Statement:
        return await self.guard.call(
            "statement", lambda: self.inner.statement(day=day), idempotent=True
        )


class GuardedHospital:
    """A hospital behind its guard."""

    def __init__(self, inner: Hospital, guard: Guard) -> None:
        self.inner, self.guard = inner, guard

    async def departments(self) -> list[Department]:
        return await self.guard.call("departments", self.inner.departments, idempotent=True)

    async def practitioners(self, *, department_id: str | None = None) -> list[Practitioner]:
        return await self.guard.call(
            "practitioners",
            lambda: self.inner.practitioners(department_id=department_id),
            idempotent=True,
        )

    async def schedules(self, *, practitioner_id: str) -> list[Schedule]:
        return await self.guard.call(
            "schedules",
            lambda: self.inner.schedules(practitioner_id=practitioner_id),
            idempotent=True,
        )

    async def slots(
        self, *, schedule_id: str, start: dt.date, end: dt.date, free_only: bool = True
    ) -> list[Slot]:
        return await self.guard.call(
            "slots",
            lambda: self.inner.slots(
                schedule_id=schedule_id, start=start, end=end, free_only=free_only
            ),
            idempotent=True,
        )

    async def book(self, *, booking_ref: str, slot_id: str, patient: Subject) -> Booking:
        return await self.guard.call(
            "book",
            lambda: self.inner.book(booking_ref=booking_ref, slot_id=slot_id, patient=patient),
            idempotent=True,
        )

    async def cancel(self, *, appointment_id: str) -> Booking:
        return await self.guard.call(
            "cancel", lambda: self.inner.cancel(appointment_id=appointment_id), idempotent=True
        )


class GuardedRecords:
    """A record-query agency behind its guard."""

    def __init__(self, inner: RecordQuery, guard: Guard) -> None:
        self.inner, self.guard = inner, guard

    async def run(
        self, *, query: str, params: dict[str, Any], subject: Subject | None
    ) -> list[Record]:
        return await self.guard.call(
            query,
            lambda: self.inner.run(query=query, params=params, subject=subject),
            idempotent=_idempotent(self.inner, query),
        )


class GuardedEligibility:
    """An eligibility check behind its guard."""

    def __init__(self, inner: EligibilityChecker, guard: Guard) -> None:
        self.inner, self.guard = inner, guard

    async def check(self, *, lottery: str, subject: Subject) -> Eligibility:
        return await self.guard.call(
            "eligibility",
            lambda: self.inner.check(lottery=lottery, subject=subject),
            idempotent=True,
        )


class GuardedAuthority:
    """A population registry behind its guard."""

    def __init__(self, inner: IdentityAuthority, guard: Guard) -> None:
        self.inner, self.guard = inner, guard

    async def check(
        self, *, name: str, id_number: str, liveness_token: str | None
    ) -> IdentityCheck:
        return await self.guard.call(
            "identity_check",
            lambda: self.inner.check(name=name, id_number=id_number, liveness_token=liveness_token),
            idempotent=True,
        )
