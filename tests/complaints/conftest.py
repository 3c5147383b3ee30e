"""Complaints are about payments: the payment tests' simulated billers and webhook receiver,
and the console's browser."""

from __future__ import annotations

from tests.billing.conftest import receiver, settings
from tests.simulators.fixtures import sim, simulator
from tests.web.conftest import browser

__all__ = ["browser", "receiver", "settings", "sim", "simulator"]
