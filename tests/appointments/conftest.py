"""Appointment tests run against the simulated FHIR hospital as a real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.config import Settings
from cityhub.simulators import RunningServer
from tests.simulators.fixtures import connector_settings, sim, simulator

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def hub(app: Any) -> AsyncIterator[ConnectorHub]:
    connectors: ConnectorHub = app.state.connectors
    yield connectors
    await connectors.aclose()
