"""Fixtures: the provider simulators as a real HTTP server on 127.0.0.1, and its control API.

Import them into a test folder's conftest (`from tests.simulators.fixtures import *`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cityhub.platform.config import Settings
from cityhub.simulators import RunningServer, World, serve_in_background

SEED = 42


@dataclass
class Sim:
    """The running simulator: its URL, its world, and its control API."""

    url: str
    world: World
    control: httpx.Client

    def set(self, provider: str, **settings: Any) -> dict[str, Any]:
        """Change how `kind/provider_id` behaves (latency_ms, error_rate, down, corrupt)."""
        answer = self.control.put(f"/_control/providers/{provider}", json=settings)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def requests(self, provider: str) -> int:
        """How many requests `kind/provider_id` received since the last reset."""
        answer = self.control.get(f"/_control/providers/{provider}")
        answer.raise_for_status()
        return int(answer.json()["requests"])


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningServer]:
    """The simulators, serving on a free port for the whole run."""
    running = serve_in_background(port=0, seed=SEED)
    yield running
    running.stop()


@pytest.fixture
def sim(simulator: RunningServer) -> Iterator[Sim]:
    """The simulator, reset to its starting state for this test."""
    with httpx.Client(base_url=simulator.url, timeout=10, trust_env=False) as control:
        control.post("/_control/reset").raise_for_status()
        yield Sim(url=simulator.url, world=World(SEED), control=control)
        control.post("/_control/reset").raise_for_status()


def connector_settings(settings: Settings, simulator_url: str) -> Settings:
    """Test settings for connectors: the simulator, 127.0.0.1 allowed, quick to give up."""
    settings.simulator_url = simulator_url
    settings.connector_allow_hosts = "127.0.0.1"
    settings.connector_timeout_seconds = 2.0
    settings.connector_retries = 1
    settings.connector_failure_threshold = 3
    settings.connector_reset_seconds = 0.5
    return settings
