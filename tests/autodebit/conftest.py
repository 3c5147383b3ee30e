"""Auto-debits pay bills: the payment tests' simulated billers and webhook receiver."""

from __future__ import annotations

import pytest

from cityhub.platform.db import Database
from tests.billing.conftest import hub, receiver, settings
from tests.billing.factories import PayWorld, pay_world
from tests.client import Api
from tests.outbox_helpers import Receiver
from tests.simulators.fixtures import Sim, sim, simulator

__all__ = ["hub", "receiver", "settings", "sim", "simulator"]


@pytest.fixture
async def world(db: Database, api: Api, sim: Sim, receiver: Receiver) -> PayWorld:
    """The payment tests' world, its channel told at the webhook receiver."""
    return await pay_world(db, api, sim, webhook_url=receiver.url)
