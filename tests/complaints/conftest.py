"""Complaints are about payments: the payment tests' simulated billers and webhook receiver."""

from __future__ import annotations

from tests.billing.conftest import receiver, settings
from tests.simulators.fixtures import sim, simulator

__all__ = ["receiver", "settings", "sim", "simulator"]
