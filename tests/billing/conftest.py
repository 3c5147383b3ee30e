"""Payment tests run against the simulated billers as a real HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.config import Settings
from cityhub.simulators import RunningServer
from tests.billing.factories import HOOK_SECRET
from tests.outbox_helpers import Receiver
from tests.simulators.fixtures import connector_settings, sim, simulator

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    return connector_settings(settings, simulator.url)


@pytest.fixture
async def hub(app: Any) -> AsyncIterator[ConnectorHub]:
    """The app's connector hub (closed after the test)."""
    connectors: ConnectorHub = app.state.connectors
    yield connectors
    await connectors.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The channel's webhook endpoint, checking signatures with `HOOK_SECRET`."""
    with Receiver(secret=HOOK_SECRET) as running:
        yield running
