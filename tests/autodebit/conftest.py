"""Auto-debits pay bills: the payment tests' simulated billers and webhook receiver."""

from __future__ import annotations

from tests.billing.conftest import hub, receiver, settings
from tests.simulators.fixtures import sim, simulator

__all__ = ["hub", "receiver", "settings", "sim", "simulator"]
