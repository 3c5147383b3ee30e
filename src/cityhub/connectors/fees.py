"""The payee side of fees the hub raises itself (a hospital's registration fee).

A hospital's system takes bookings, not payments: the fee is collected by the channel, held
by the hub as owed to the hospital (`biller:<service>:payable`) and paid out in the daily
settlement. So accepting a fee asks no one, and its receipt is the hub's own reference.
"""

from __future__ import annotations

import datetime as dt

from cityhub.connectors.types import Bill, PaymentOrder, PaymentReceipt, Reversal, Statement
from cityhub.platform.errors import NotFound, Unavailable


class HubCollectedFees:
    """A `Biller` for a service whose charges the hub raised: it accepts at once."""

    def __init__(self, service_code: str) -> None:
        self.service_code = service_code

    async def bills(self, *, account: str, fields: dict[str, str] | None = None) -> list[Bill]:
        raise NotFound(
            f"{self.service_code} has no bills to look up; its fees come with its bookings",
            code="account_not_found",
        )

    async def pay(self, *, order: PaymentOrder) -> PaymentReceipt:
        return PaymentReceipt(payment_id=order.payment_id, provider_ref=f"hub:{order.payment_id}")

    async def reverse(self, *, payment_id: str, reason: str) -> Reversal:
        return Reversal(payment_id=payment_id)

    async def statement(self, *, day: dt.date) -> Statement:
        raise Unavailable(
            f"{self.service_code}'s fees are collected by the hub: there is no statement of "
            "theirs to reconcile against",
            code="no_statement",
        )
