"""Payments in the sandbox (test credentials, `platform/sandbox.py`), kept apart from live money.

- A bill the sandbox's simulator shows is kept under its id with `sbx-` before it, so it never
  shares a row (its status, its hold, what was paid of it) with the live bill of that id; a live
  token cannot quote it and a test token cannot quote a live bill (404 either way). The biller
  is sent its own id back.
- A sandbox payment (`Payment.sandbox`) posts to `sandbox:`-prefixed accounts: no settlement
  batch, reconciliation or figure reads them, so its money never meets a city's.
"""

from __future__ import annotations

from collections.abc import Sequence

from cityhub.billing.models import Payment
from cityhub.platform import sandbox
from cityhub.platform.sandbox import BILL_PREFIX as BILL_PREFIX

ACCOUNT_PREFIX = "sandbox:"


def kept_ref(biller_ref: str) -> str:
    """The id a bill the biller shows now is kept under (prefixed in test mode)."""
    return f"{BILL_PREFIX}{biller_ref}"[:80] if sandbox.is_test() else biller_ref


def biller_ref(kept: str) -> str:
    """The biller's own id of a kept bill."""
    return kept.removeprefix(BILL_PREFIX)


def reachable(kept: str) -> bool:
    """Whether the work running now may use the kept bill: a sandbox bill in test mode, a
    live bill otherwise."""
    return kept.startswith(BILL_PREFIX) == sandbox.is_test()


def lines(payment: Payment, entries: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """A payment's posting lines, on the sandbox's own accounts when it is a sandbox payment."""
    if not payment.sandbox:
        return list(entries)
    return [(f"{ACCOUNT_PREFIX}{code}", fen) for code, fen in entries]
