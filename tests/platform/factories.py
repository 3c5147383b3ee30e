"""Helpers of the platform tests: a clock the test sets, and Redis for the counters."""

from __future__ import annotations

import datetime as dt
import os
import socket
from urllib.parse import urlsplit

import pytest

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.throttle import Throttle
from cityhub.platform.throttle_sql import DatabaseThrottle

REDIS_URL = os.environ.get("CITYHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HASH_KEY = Settings(env="test").hash_key


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def redis_or_skip() -> str:
    """The test Redis server's URL. Without one the Redis tests are skipped, unless
    `CITYHUB_TEST_REQUIRE_REDIS` is set (CI), where its absence fails them."""
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=2).close()
    except OSError:
        if os.environ.get("CITYHUB_TEST_REQUIRE_REDIS"):
            pytest.fail(f"Redis is required (CITYHUB_TEST_REQUIRE_REDIS) but {REDIS_URL} is down")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return REDIS_URL


def database_throttle(db: Database, clock: FakeClock) -> Throttle:
    """Counters in the test's database."""
    return DatabaseThrottle(db, hash_key=HASH_KEY, clock=clock)
