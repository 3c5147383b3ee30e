"""Subsidies are used at payment: the payment tests' simulated billers (and the simulated
civil-affairs bureau's low-income list) as a real HTTP server."""

from __future__ import annotations

from tests.billing.conftest import receiver, settings
from tests.simulators.fixtures import sim, simulator

__all__ = ["receiver", "settings", "sim", "simulator"]
