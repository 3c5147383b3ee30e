"""Simulated utilities (water, power, gas): accounts, monthly bills, payments, statements.

Under `/{kind}/{provider_id}`:
- `GET  /accounts/{account}/bills`: the account's bills (404 for an unknown account);
- `POST /payments`: pay a bill (a part of it, or ahead, where its terms say: `biller_terms`,
  which also keeps each bill's balance); idempotent by our `payment_id` (the same body again answers
  the same receipt, a different body under the same id is 409);
- `POST /payments/{payment_id}/reversal`: undo a payment (again: the same answer);
- `GET  /statements/{day}`: payments and reversals of a day (Asia/Shanghai), for reconciliation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cityhub.simulators import biller_terms
from cityhub.simulators.world import CHINA, World

Kind = Annotated[str, Path(pattern="^(water|power|gas)$")]
router = APIRouter(prefix="/{kind}/{provider_id}", tags=["billers"])


class SimState:
    """What residents changed in the simulated world: payments and appointments."""

    def __init__(self) -> None:
        self.reset()

    def terms_of(self, kind: str, provider: str) -> biller_terms.Terms:
        """What the utility accepts now."""
        return self.terms.get(f"{kind}/{provider}") or biller_terms.default_terms(kind)

    def reset(self) -> None:
        """Back to the world as the seed made it."""
        self.payments: dict[str, dict[str, dict[str, Any]]] = {}
        # What was paid of each bill (accepted less reversed), by utility and bill id.
        self.paid_bills: dict[str, dict[str, int]] = {}
        self.terms: dict[str, biller_terms.Terms] = {}
        self.bill_changes: dict[str, dict[str, dict[str, Any]]] = {}
        self.appointments: dict[str, dict[str, dict[str, Any]]] = {}
        self.taken_slots: dict[str, dict[str, str]] = {}


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error the way these providers answer them."""
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def current_bills(request: Request, kind: str, provider: str, account: str) -> list[dict[str, Any]]:
    """The account's bills with the payments made and the changes told in this run applied."""
    state, key = _state(request), f"{kind}/{provider}"
    paid, changes = state.paid_bills.get(key, {}), state.bill_changes.get(key, {})
    today = _now().astimezone(CHINA).date()
    bills = _world(request).bills(kind, provider, account, today)
    return [
        biller_terms.standing(b, paid.get(b["id"], 0), changes.get(b["id"], {}), today)
        for b in bills
    ]


@router.get("/accounts/{account}/bills")
async def bills(request: Request, kind: Kind, provider_id: str, account: str) -> Any:
    """The account's bills, unpaid first."""
    holder = _world(request).account_holder(kind, provider_id, account)
    if holder is None:
        return error(404, "account_not_found", f"no account {account}")
    rows = current_bills(request, kind, provider_id, account)
    rows.sort(key=lambda b: (b["status"] not in ("unpaid", "partially_paid"), b["period"]))
    return {"account": account, "holder": holder.name[0] + "*", "bills": rows}


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=80)
    account: str = Field(min_length=1, max_length=40)
    bill_id: str = Field(min_length=1, max_length=80)
    amount_fen: int = Field(gt=0)
    currency: str = "CNY"


@router.post("/payments")
async def pay(request: Request, kind: Kind, provider_id: str, payment: PaymentIn) -> Any:
    """Pay a bill, or a part of it or ahead of it where the utility's terms say so; the same
    payment id again answers the same receipt."""
    key = f"{kind}/{provider_id}"
    state = _state(request)
    known = state.payments.setdefault(key, {})
    body = payment.model_dump()
    previous = known.get(payment.payment_id)
    if previous is not None:
        if previous["request"] != body:
            return error(409, "payment_id_reused", "this payment id was used for another payment")
        return previous["receipt"]
    bill = next(
        (
            b
            for b in current_bills(request, kind, provider_id, payment.account)
            if b["id"] == payment.bill_id
        ),
        None,
    )
    if _world(request).account_holder(kind, provider_id, payment.account) is None or bill is None:
        return error(404, "bill_not_found", f"no bill {payment.bill_id} on {payment.account}")
    terms = state.terms_of(kind, provider_id)
    if bill["status"] in ("cancelled", "expired"):
        return error(409, f"bill_{bill['status']}", f"bill {payment.bill_id} is {bill['status']}")
    if bill["status"] == "paid" and terms.amount_rule != "advance":
        return error(409, "bill_already_paid", f"bill {payment.bill_id} is already paid")
    why = biller_terms.refusal(terms, bill, payment.amount_fen)
    if why is not None or payment.currency != bill["currency"]:
        return error(422, "wrong_amount", why or f"bill {payment.bill_id} is in {bill['currency']}")
    ref = hashlib.sha256(f"{key}|{payment.payment_id}".encode()).hexdigest()[:12].upper()
    receipt = {
        **body,
        "provider_ref": f"{kind[:3].upper()}-{ref}",
        "status": "accepted",
        "accepted_at": _now().isoformat(),
    }
    known[payment.payment_id] = {"request": body, "receipt": receipt}
    paid = state.paid_bills.setdefault(key, {})
    paid[payment.bill_id] = paid.get(payment.bill_id, 0) + payment.amount_fen
    return receipt


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=200)


@router.post("/payments/{payment_id}/reversal")
async def reverse(
    request: Request, kind: Kind, provider_id: str, payment_id: str, reversal: ReversalIn
) -> Any:
    """Undo a payment: the bill is unpaid again. Reversing twice answers the same."""
    key = f"{kind}/{provider_id}"
    state = _state(request)
    found = state.payments.get(key, {}).get(payment_id)
    if found is None:
        return error(404, "payment_not_found", f"no payment {payment_id}")
    receipt = found["receipt"]
    if receipt["status"] != "reversed":
        receipt["status"] = "reversed"
        receipt["reversed_at"] = _now().isoformat()
        receipt["reversal_reason"] = reversal.reason
        paid = state.paid_bills.setdefault(key, {})
        paid[receipt["bill_id"]] = max(paid.get(receipt["bill_id"], 0) - receipt["amount_fen"], 0)
    return {"payment_id": payment_id, "status": "reversed", "reversed_at": receipt["reversed_at"]}


@router.get("/statements/{day}")
async def statement(request: Request, kind: Kind, provider_id: str, day: dt.date) -> Any:
    """Every payment and reversal of the day, in the provider's time zone."""
    lines = []
    for found in _state(request).payments.get(f"{kind}/{provider_id}", {}).values():
        receipt = found["receipt"]
        for line_kind, stamp in (("payment", "accepted_at"), ("reversal", "reversed_at")):
            at = receipt.get(stamp)
            if at and dt.datetime.fromisoformat(at).astimezone(CHINA).date() == day:
                lines.append(
                    {
                        "payment_id": receipt["payment_id"],
                        "provider_ref": receipt["provider_ref"],
                        "bill_id": receipt["bill_id"],
                        "amount_fen": receipt["amount_fen"],
                        "currency": receipt["currency"],
                        "kind": line_kind,
                        "at": at,
                    }
                )
    lines.sort(key=lambda ln: str(ln["at"]))
    return {"day": day.isoformat(), "lines": lines}
