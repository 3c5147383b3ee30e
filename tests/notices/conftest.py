"""Notice tests: the simulated SMS gateway and a channel's webhook endpoint, as real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.client import Api
from tests.notices.factories import HOOK_SECRET, NoticeWorld, notice_world
from tests.outbox_helpers import Receiver
from tests.simulators.fixtures import connector_settings, sim, simulator

__all__ = ["sim", "simulator"]


@pytest.fixture
def settings(settings: Settings, simulator: RunningServer) -> Settings:
    configured = connector_settings(settings, simulator.url)
    configured.sms_timeout_seconds = 2.0
    return configured


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The channel's webhook endpoint, checking signatures with `HOOK_SECRET`."""
    with Receiver(secret=HOOK_SECRET) as running:
        yield running


@pytest.fixture
async def world(
    db: Database, api: Api, settings: Settings, receiver: Receiver, sim: Any
) -> AsyncIterator[NoticeWorld]:
    """A city with a water company's account, a granted channel and a signed-in admin."""
    yield await notice_world(db, api, settings, webhook_url=receiver.url)
