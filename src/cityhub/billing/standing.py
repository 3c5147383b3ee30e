"""Where a bill stands: its status as the hub shows it, what is paid and what remains.

The status is derived from two sources, never from one alone: the biller's answer (what it
says of the bill: withdrawn, past the days it takes payment, paid at its own counters) and the
hub's own record of what its payments paid against the bill (`Bill.paid_fen`: completed, less
refunds). Of what was paid, the larger of the two counts: the biller's answer may be older
than the hub's last payment, and the hub does not see what was paid at the biller's counter.

- `cancelled`: the biller withdrew the bill; nothing may be paid (409 `bill_cancelled`).
- `expired`: the biller says so, or its last day of payment (`payable_until`) has passed in
  the city's calendar, before it was paid in full (409 `bill_expired`).
- `paid`: the biller says so, or what was paid covers the bill.
- `partially_paid`: something was paid, and something remains.
- `unpaid`: nothing was paid yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cityhub.billing.enums import BillStatus
from cityhub.platform.errors import Conflict

if TYPE_CHECKING:
    from cityhub.billing.models import Bill


@dataclass(frozen=True)
class Standing:
    """A bill's status as the hub shows it, what is paid of it and what remains to pay."""

    status: BillStatus
    paid_fen: int
    remaining_fen: int

    @property
    def payable(self) -> bool:
        """Whether a payment of the bill may be quoted."""
        return self.status in (BillStatus.UNPAID, BillStatus.PARTIALLY_PAID)


def paid_of(bill: Bill) -> int:
    """What was paid of the bill: the hub's payments, or the biller's record if larger."""
    return max(bill.paid_fen or 0, bill.biller_paid_fen or 0)


def of(bill: Bill, today: dt.date) -> Standing:
    """Where the bill stands on `today` (the city's calendar)."""
    paid = paid_of(bill)
    remaining = max(bill.amount_fen - paid, 0)
    said = bill.status
    if said == BillStatus.CANCELLED:
        return Standing(BillStatus.CANCELLED, paid, remaining)
    if said == BillStatus.PAID or (paid >= bill.amount_fen and paid > 0):
        return Standing(BillStatus.PAID, paid, 0)
    past = bill.payable_until is not None and today > bill.payable_until
    if said == BillStatus.EXPIRED or past:
        return Standing(BillStatus.EXPIRED, paid, remaining)
    if paid > 0 or said == BillStatus.PARTIALLY_PAID:
        return Standing(BillStatus.PARTIALLY_PAID, paid, remaining)
    return Standing(BillStatus.UNPAID, paid, remaining)


def check_payable(bill: Bill, today: dt.date, *, advance: bool = False) -> Standing:
    """The bill's standing if a payment of it may be quoted; else a 409 saying why. Under
    advance terms a paid bill takes more, up to the biller's maximum (`allowance`)."""
    found = of(bill, today)
    if found.status == BillStatus.CANCELLED:
        raise Conflict(
            f"the biller withdrew bill {bill.bill_ref}; look the account's bills up again",
            code="bill_cancelled",
            field="bill_id",
        )
    if found.status == BillStatus.EXPIRED:
        last = bill.payable_until
        until = f" (its last day was {last.isoformat()})" if last else ""
        raise Conflict(
            f"bill {bill.bill_ref} can no longer be paid{until}; the biller has closed it",
            code="bill_expired",
            field="bill_id",
            remaining_fen=found.remaining_fen,
        )
    if found.status == BillStatus.PAID and not advance:
        raise Conflict(
            f"bill {bill.bill_ref} is already paid", code="bill_already_paid", field="bill_id"
        )
    return found
