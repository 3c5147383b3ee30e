"""The contract's tests drive a hub whose bill services reach the simulated billers."""

from __future__ import annotations

import pytest

from cityhub.platform.config import Settings
from cityhub.simulators import RunningServer
from tests.simulators.fixtures import connector_settings, sim, simulator

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)
