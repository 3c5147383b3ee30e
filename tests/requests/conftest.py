"""Request tests: a city with its hotline, departments and a street-light type."""

from __future__ import annotations

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.requests.factories import RequestWorld, request_world


@pytest.fixture
async def world(db: Database, api: Api, settings: Settings) -> RequestWorld:
    return await request_world(db, api, settings)
