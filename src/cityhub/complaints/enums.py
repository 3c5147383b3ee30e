"""A complaint's types and statuses (the pages read them without the tables)."""

from __future__ import annotations

import enum


class ComplaintType(enum.StrEnum):
    """What went wrong: three about a payment, one about a service."""

    DEBITED_NOT_CREDITED = "debited_not_credited"  # money taken, the bill not credited
    PAID_TWICE = "paid_twice"
    WRONG_AMOUNT = "wrong_amount"
    SERVICE = "service"


class ComplaintStatus(enum.StrEnum):
    """logged -> assigned -> resolved | escalated (an escalated one may still be resolved)."""

    LOGGED = "logged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    ESCALATED = "escalated"


PAYMENT_TYPES = frozenset(
    {ComplaintType.DEBITED_NOT_CREDITED, ComplaintType.PAID_TWICE, ComplaintType.WRONG_AMOUNT}
)
OPEN = (ComplaintStatus.LOGGED, ComplaintStatus.ASSIGNED)
