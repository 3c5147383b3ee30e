"""Lottery tests run against the simulated vehicle administration as a real HTTP server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cityhub.platform.config import Settings
from cityhub.simulators import RunningServer, serve_in_background
from tests.simulators.fixtures import connector_settings, sim, simulator

__all__ = ["sim", "simulator"]
OTHER_SEED = 7  # a second vehicle administration whose records know other people


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture(scope="session")
def other_simulator() -> Iterator[RunningServer]:
    """Simulators of another seed: the same people are unknown there (so, not eligible)."""
    running = serve_in_background(port=0, seed=OTHER_SEED)
    yield running
    running.stop()
