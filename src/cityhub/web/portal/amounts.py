"""The amount field of a bill's Pay form, where the biller's terms take a part or an advance
payment: prefilled with what remains, in yuan, with the bounds the terms set for this bill.

The field only says the bounds; the amount is checked where every channel's is, by
`Terms.check_amount` and `allowance.reserve` when the payment is quoted (no second copy of
the rule here). An exact-amount bill's form has no field: it pays what remains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cityhub.billing import allowance
from cityhub.billing.enums import AmountRule
from cityhub.billing.terms import Terms
from cityhub.platform.money import plain_major

if TYPE_CHECKING:
    from cityhub.billing.models import Bill
    from cityhub.billing.standing import Standing

TYPED_MAX = 20  # characters of an amount kept as typed


@dataclass(frozen=True)
class Typed:
    """The amount a resident typed for one bill (yuan, as typed)."""

    service: str
    bill_ref: str
    account: str
    text: str

    @classmethod
    def of(cls, form: Mapping[str, str], service: str) -> Typed | None:
        """What the form typed, if it had an amount field (part and advance terms)."""
        if "amount" not in form:
            return None
        return cls(
            service=service,
            bill_ref=form.get("bill_id", "")[:80],
            account=form.get("account", "")[:80],
            text=form["amount"][:TYPED_MAX],
        )


@dataclass(frozen=True)
class AmountField:
    """What a bill's amount field holds and the hint under it says."""

    value: str  # yuan, as the field holds it
    least_fen: int
    most_fen: int
    multiple_fen: int
    whole_yuan: bool  # the multiple is one yuan: "in whole yuan"


def amount_field(terms: Terms, bill: Bill, now: Standing, typed: Typed | None) -> AmountField:
    """The field of one bill: the least and most the terms take of it now (what remains may
    always be paid), prefilled with what remains or with what was typed."""
    low, _high = terms.bounds(bill.amount_fen)
    remaining = now.remaining_fen
    least = min(low, remaining) if remaining > 0 else low
    most = max(allowance.ceiling_fen(terms, bill.amount_fen) - now.paid_fen, least)
    mine = typed is not None and typed.bill_ref == bill.bill_ref
    return AmountField(
        value=typed.text if typed is not None and mine else plain_major(remaining, bill.currency),
        least_fen=least,
        most_fen=most,
        multiple_fen=terms.multiple_fen,
        whole_yuan=terms.multiple_fen == 100 and bill.currency == "CNY",
    )


def amount_fields(
    terms: Terms | None,
    bills: Iterable[Bill],
    standings: Mapping[str, Standing],
    typed: Typed | None,
) -> dict[str, AmountField]:
    """The amount field of each bill, by its ref; none under exact terms."""
    if terms is None or terms.amount_rule == AmountRule.EXACT:
        return {}
    return {b.bill_ref: amount_field(terms, b, standings[b.bill_ref], typed) for b in bills}
