"""A biller's terms as data: account format, amount rule and bounds, fee, accepted hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import AmountRule, BillerSubType, BillerTerms, RefundRule
from cityhub.platform import patterns
from cityhub.platform.errors import Conflict, Unavailable, Unprocessable

DEFAULT_ACCOUNT_PATTERN = r"^[A-Za-z0-9-]{1,40}$"
DEFAULT_QUOTE_SECONDS = 900


@dataclass(frozen=True)
class Terms:
    """The terms in force for one biller service."""

    account_pattern: str = DEFAULT_ACCOUNT_PATTERN
    amount_rule: AmountRule = AmountRule.EXACT
    min_fen: int = 1
    max_fen: int | None = None
    multiple_fen: int = 1
    fee_fixed_fen: int = 0
    fee_rate_bps: int = 0
    accept_from: dt.time | None = None
    accept_until: dt.time | None = None
    quote_seconds: int = DEFAULT_QUOTE_SECONDS
    refund_rule: RefundRule = RefundRule.STAFF
    refund_days: int = 30
    sub_type: BillerSubType = BillerSubType.OTHER
    # The fields a customer fills in (see `billing.catalogue`); none: one `account` field.
    fields: tuple[dict[str, Any], ...] | None = None

    @classmethod
    def of(cls, row: BillerTerms | None) -> Terms:
        """The stored terms, or the defaults (exact amount, no fee, open all day)."""
        if row is None:
            return cls()
        return cls(
            account_pattern=row.account_pattern,
            amount_rule=row.amount_rule,
            min_fen=row.min_fen,
            max_fen=row.max_fen,
            multiple_fen=row.multiple_fen or 1,
            fee_fixed_fen=row.fee_fixed_fen,
            fee_rate_bps=row.fee_rate_bps,
            accept_from=row.accept_from,
            accept_until=row.accept_until,
            quote_seconds=row.quote_seconds,
            refund_rule=row.refund_rule,
            refund_days=row.refund_days,
            # A row the quote read builds carries none of the catalogue's columns.
            sub_type=BillerSubType(row.sub_type or BillerSubType.OTHER),
            fields=tuple(row.fields) if row.fields else None,
        )

    def check_account(self, account: str) -> None:
        """Unprocessable unless the account number has the biller's format."""
        try:
            matches = patterns.fullmatch(self.account_pattern, account)
        except patterns.PatternError:  # stored before patterns were checked at write time
            raise Unavailable(
                "this biller's account format cannot be used; the city must set it again",
                code="terms_misconfigured",
            ) from None
        if not matches:
            raise Unprocessable(
                f"account {account!r} is not in this biller's format ({self.account_pattern})",
                code="invalid_account",
                field="account",
            )

    def bounds(self, bill_fen: int) -> tuple[int, int | None]:
        """The smallest and largest amount that may be paid against a bill of `bill_fen`."""
        if self.amount_rule == AmountRule.EXACT:
            return bill_fen, bill_fen
        if self.amount_rule == AmountRule.PARTIAL:
            return min(self.min_fen, bill_fen), bill_fen
        return self.min_fen, self.max_fen

    def check_amount(self, amount_fen: int, bill_fen: int, rest_fen: int | None = None) -> None:
        """Unprocessable, naming `amount_fen`, unless the amount fits the rule and its bounds.
        What is left of a part-paid bill (`rest_fen`) may always be paid, like the whole bill."""
        low, high = self.bounds(bill_fen)
        partly_paid = rest_fen is not None and 0 < rest_fen < bill_fen
        if self.amount_rule != AmountRule.EXACT and partly_paid and amount_fen == rest_fen:
            return
        if self.amount_rule == AmountRule.EXACT and amount_fen != bill_fen:
            code = "amount_above_bill" if amount_fen > bill_fen else "amount_not_exact"
            raise Unprocessable(
                f"this biller takes the exact amount of the bill: {bill_fen}",
                code=code,
                field="amount_fen",
            )
        if self.amount_rule == AmountRule.PARTIAL and amount_fen > bill_fen:
            raise Unprocessable(
                f"the amount is above the bill's {bill_fen}",
                code="amount_above_bill",
                field="amount_fen",
            )
        # The whole bill may always be paid, whatever its odd fen.
        if amount_fen != bill_fen and amount_fen % self.multiple_fen:
            raise Unprocessable(
                f"this biller takes amounts in multiples of {self.multiple_fen}",
                code="amount_not_multiple",
                field="amount_fen",
            )
        if amount_fen < low:
            raise Unprocessable(
                f"the amount is below this biller's minimum of {low}",
                code="amount_below_minimum",
                field="amount_fen",
            )
        if high is not None and amount_fen > high:
            raise Unprocessable(
                f"the amount is above this biller's maximum of {high}",
                code="amount_above_maximum",
                field="amount_fen",
            )

    def fee(self, amount_fen: int) -> int:
        """The fee on an amount: the fixed part plus the rate, rounded up to a whole fen."""
        return self.fee_fixed_fen + -(-amount_fen * self.fee_rate_bps // 10_000)

    def is_open(self, moment: dt.datetime, timezone: str) -> bool:
        """Whether the biller accepts payments at `moment` (its hours are the city's time)."""
        if self.accept_from is None or self.accept_until is None:
            return True
        local = moment.astimezone(ZoneInfo(timezone)).time()
        start, end = self.accept_from, self.accept_until
        if start <= end:
            return start <= local < end
        return local >= start or local < end  # the window runs past midnight

    def check_open(self, moment: dt.datetime, timezone: str) -> None:
        """Conflict unless the biller accepts payments now."""
        if not self.is_open(moment, timezone):
            assert self.accept_from is not None and self.accept_until is not None
            raise Conflict(
                f"this biller accepts payments from {self.accept_from:%H:%M} to "
                f"{self.accept_until:%H:%M} ({timezone})",
                code="outside_accepted_hours",
                field="service",
            )


async def get_row(*, session: AsyncSession, city_id: int, service_id: int) -> BillerTerms | None:
    """The stored terms of a biller service, if any."""
    return await session.scalar(
        select(BillerTerms).where(
            BillerTerms.city_id == city_id, BillerTerms.service_id == service_id
        )
    )


async def get(*, session: AsyncSession, city_id: int, service_id: int) -> Terms:
    """The terms in force for a biller service."""
    return Terms.of(await get_row(session=session, city_id=city_id, service_id=service_id))


async def save(
    *, session: AsyncSession, city_id: int, service_id: int, terms: Terms
) -> BillerTerms:
    """Store a biller's terms (checked by the caller's schema), replacing the old ones."""
    row = await get_row(session=session, city_id=city_id, service_id=service_id)
    if row is None:
        row = BillerTerms(city_id=city_id, service_id=service_id)
        session.add(row)
    row.account_pattern = terms.account_pattern
    row.amount_rule = terms.amount_rule
    row.min_fen = terms.min_fen
    row.max_fen = terms.max_fen
    row.multiple_fen = terms.multiple_fen
    row.fee_fixed_fen = terms.fee_fixed_fen
    row.fee_rate_bps = terms.fee_rate_bps
    row.accept_from = terms.accept_from
    row.accept_until = terms.accept_until
    row.quote_seconds = terms.quote_seconds
    row.refund_rule = terms.refund_rule
    row.refund_days = terms.refund_days
    row.sub_type = terms.sub_type.value
    row.fields = list(terms.fields) if terms.fields else None
    await session.flush()
    return row
