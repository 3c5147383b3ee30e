"""What the simulated utilities accept, and the bills they withdraw or close.

Each utility has its own terms, as a real biller does (the hub's `biller_terms` say the same
thing on the hub's side; the demo sets both alike): water takes the exact amount of a bill,
power takes part payments, gas takes advance payments above the bill up to its maximum. The
utility keeps the balance of each bill itself: what was paid of it (accepted payments less
reversals), reported on look-up as `paid_fen` and the status `partially_paid` or `paid`.

Under `/_control/billers/{kind}/{provider_id}` a test or the demo changes them:
- `PUT /terms`: the amount rule (`exact`, `partial`, `advance`), `min_fen`, `multiple_fen`,
  `max_fen` (the most all payments of one bill may add up to, for `advance`);
- `PUT /bills/{bill_id}`: the biller withdraws a bill (`status: cancelled`), closes it
  (`status: expired`) or names the last day it takes payment (`payable_until`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

Rule = Literal["exact", "partial", "advance"]


@dataclass
class Terms:
    """How one utility takes payments of its bills."""

    amount_rule: Rule = "exact"
    min_fen: int = 1
    multiple_fen: int = 1
    max_fen: int | None = None


def default_terms(kind: str) -> Terms:
    """A utility's terms when nobody changed them."""
    if kind == "power":
        return Terms(amount_rule="partial", min_fen=1_000, multiple_fen=100)
    if kind == "gas":
        return Terms(amount_rule="advance", min_fen=1_000, multiple_fen=100, max_fen=500_000)
    return Terms()


def refusal(terms: Terms, bill: dict[str, Any], amount_fen: int) -> str | None:
    """Why the utility will not take `amount_fen` of the bill now (None: it will)."""
    owed, paid = int(bill["amount_fen"]), int(bill.get("paid_fen") or 0)
    remaining = max(owed - paid, 0)
    if bill["status"] in ("cancelled", "expired"):
        return f"bill {bill['id']} is {bill['status']}"
    if terms.amount_rule == "exact":
        if paid or amount_fen != owed:
            return f"bill {bill['id']} is {owed} fen"
        return None
    whole = amount_fen == remaining  # what is left may always be paid, whatever its odd fen
    if not whole and (amount_fen < terms.min_fen or amount_fen % terms.multiple_fen):
        return (
            f"part payments of bill {bill['id']} are at least {terms.min_fen} fen, in "
            f"multiples of {terms.multiple_fen}"
        )
    ceiling = owed if terms.amount_rule == "partial" else max(terms.max_fen or owed, owed)
    if paid + amount_fen > ceiling:
        return f"bill {bill['id']} takes {max(ceiling - paid, 0)} fen more"
    return None


def standing(
    bill: dict[str, Any], paid: int, change: dict[str, Any], today: dt.date
) -> dict[str, Any]:
    """The bill as the utility shows it: what was paid of it, and its status."""
    owed = int(bill["amount_fen"])
    paid = owed if bill["status"] == "paid" else paid
    status = "paid" if paid >= owed else "partially_paid" if paid else "unpaid"
    until = change.get("payable_until")
    if status != "paid" and until is not None and today > dt.date.fromisoformat(until):
        status = "expired"
    said = change.get("status")
    if said and status != "paid":  # a bill paid in full stays paid
        status = said
    shown = {**bill, "status": status, "paid_fen": paid}
    if until is not None:
        shown["payable_until"] = until
    return shown


class TermsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_rule: Rule
    min_fen: int = Field(default=1, ge=1)
    multiple_fen: int = Field(default=1, ge=1)
    max_fen: int | None = Field(default=None, ge=1)


class BillChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["cancelled", "expired"] | None = None
    payable_until: dt.date | None = None


router = APIRouter(prefix="/_control/billers/{kind}/{provider_id}", tags=["control"])


def _sim(request: Request) -> Any:
    return request.app.state.sim


@router.get("/terms")
async def get_terms(request: Request, kind: str, provider_id: str) -> dict[str, Any]:
    """The utility's terms."""
    return asdict(_sim(request).terms_of(kind, provider_id))


@router.put("/terms")
async def set_terms(request: Request, kind: str, provider_id: str, terms: TermsIn) -> Any:
    """Change what the utility accepts (until the next reset)."""
    _sim(request).terms[f"{kind}/{provider_id}"] = Terms(**terms.model_dump())
    return asdict(_sim(request).terms_of(kind, provider_id))


@router.put("/bills/{bill_id}")
async def change_bill(
    request: Request, kind: str, provider_id: str, bill_id: str, change: BillChangeIn
) -> dict[str, Any]:
    """Withdraw a bill, close it, or name its last day of payment (until the next reset)."""
    changes = _sim(request).bill_changes.setdefault(f"{kind}/{provider_id}", {})
    found = changes.setdefault(bill_id, {})
    found.update(change.model_dump(mode="json", exclude_unset=True))
    return {"bill_id": bill_id, **found}
