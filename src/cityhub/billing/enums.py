"""The billing domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class AmountRule(enum.StrEnum):
    EXACT = "exact"  # the bill's amount, no more, no less
    PARTIAL = "partial"  # between `min_fen` and the bill's amount
    ADVANCE = "advance"  # between `min_fen` and `max_fen`, above the bill allowed


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
