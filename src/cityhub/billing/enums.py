"""The billing domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class AmountRule(enum.StrEnum):
    EXACT = "exact"  # the bill's amount, no more, no less
    PARTIAL = "partial"  # between `min_fen` and the bill's amount
    ADVANCE = "advance"  # between `min_fen` and `max_fen`, above the bill allowed


class BillStatus(enum.StrEnum):
    """A bill's status as the hub shows it (`billing.standing`)."""

    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"  # part of it paid, the rest remains
    PAID = "paid"
    EXPIRED = "expired"  # past the biller's last day of payment: not payable
    CANCELLED = "cancelled"  # withdrawn by the biller: not payable


class PaymentStatus(enum.StrEnum):
    QUOTED = "quoted"  # created: the channel may charge its user and confirm until expiry
    CONFIRMED = "confirmed"  # the channel charged its user; the biller is being paid
    COMPLETED = "completed"  # the biller accepted the payment
    FAILED = "failed"  # the biller refused for good: the channel refunds its user
    EXPIRED = "expired"  # never confirmed within the quote's time
    REFUNDED = "refunded"  # completed, then refunded in full


class RefundSource(enum.StrEnum):
    STAFF = "staff"  # city staff decided
    BILLER_REVERSAL = "biller_reversal"  # the biller reversed the payment on its side
    CHANNEL = "channel"  # the channel asked, and the biller's terms let it refund on its own


class RefundRule(enum.StrEnum):
    """Who decides a channel's refund request (a biller's terms)."""

    STAFF = "staff"  # the request waits for the city's staff or the biller
    CHANNEL = "channel"  # refunded at once, within the terms' days
    NONE = "none"  # the biller takes no refund requests


class RefundRequestStatus(enum.StrEnum):
    PENDING = "pending"  # waits for the city's staff or the biller
    REFUNDED = "refunded"  # a refund was made
    DECLINED = "declined"  # the staff or the biller said no


class BillerSubType(enum.StrEnum):
    """What kind of bill a biller issues (the catalogue's and the bills' sub-type)."""

    WATER = "water"
    ELECTRICITY = "electricity"
    GAS = "gas"
    PHONE = "phone"
    BROADBAND = "broadband"
    HEATING = "heating"
    PROPERTY = "property"
    TRAFFIC_FINE = "traffic_fine"
    OTHER = "other"
