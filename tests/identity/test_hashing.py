"""No guess freezes the server: while secret checks are in flight, other requests are served
and no database transaction is held open; a crowd of concurrent wrong guesses is answered
401 or 429, never 500.

The hub runs as a real server in a thread of its own, so that a check blocking its event loop
(as it once did) fails this test instead of hanging it. argon2's verify is replaced by a gate
that holds every check until the test opens it: "in flight" is then a fact, not a timing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import text

from cityhub.app import create_app
from cityhub.identity import security
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import serve_app_in_background
from tests.cities.factories import create_city
from tests.client import PROBLEM
from tests.identity.factories import create_channel, create_staff
from tests.platform.factories import FakeClock

GUESSES = 40
HANG_GUARD = 60.0  # seconds: only so that a broken hub fails the test instead of hanging it


class Gate:
    """Stands in for argon2's verify: counts the checks in flight and holds them all."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self.loop = loop
        self.expected = expected
        self.in_flight = 0
        self.lock = threading.Lock()
        self.opened = threading.Event()
        self.reached = asyncio.Event()

    def verify(self, _hash: str, _password: str) -> bool:
        with self.lock:
            self.in_flight += 1
            if self.in_flight == self.expected:
                self.loop.call_soon_threadsafe(self.reached.set)
        try:
            self.opened.wait(HANG_GUARD)
            raise VerifyMismatchError("wrong")
        finally:
            with self.lock:
                self.in_flight -= 1


async def open_transactions(db: Database) -> int:
    """Other connections to this PostgreSQL database idling inside a transaction."""
    async with db.engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
    return int(found or 0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # As many guesses get past the limits as there are threads to check them: all of those
    # are then in flight at once, none waiting for a thread.
    return settings.model_copy(update={"sign_in_attempts": security.HASH_THREADS})


async def until_only(tasks: list[asyncio.Task[Any]], left: int) -> None:
    """Wait until no more than `left` of the tasks are still running."""
    while len(running := [t for t in tasks if not t.done()]) > left:
        await asyncio.wait(running, timeout=HANG_GUARD, return_when=asyncio.FIRST_COMPLETED)


@pytest.mark.parametrize("endpoint", ["/v1/oauth/token", "/v1/staff/session"])
async def test_guesses_in_flight_neither_stop_other_requests_nor_hold_a_transaction(
    db: Database,
    db_kind: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
) -> None:
    login = await create_channel(db)
    staff = await create_staff(db, city=await create_city(db))

    def guess(n: int) -> dict[str, Any]:
        """The n-th guess: each a different secret (the same one sent again at once is
        checked once for all its requests, identity/client_checks.py)."""
        if endpoint == "/v1/oauth/token":
            form = {"grant_type": "client_credentials", "client_id": login.client_id}
            return {"data": {**form, "client_secret": f"guess-{n}"}}
        return {"json": {"username": staff.username, "password": f"guess-{n}"}}

    in_flight = settings.sign_in_attempts  # all guesses are against one account
    gate = Gate(asyncio.get_running_loop(), in_flight)
    monkeypatch.setattr(PasswordHasher, "verify", gate.verify)
    app = create_app(settings)
    app.state.throttle.clock = FakeClock()  # time stands still: no wait runs out meanwhile
    server = serve_app_in_background(app, lifespan="on", proxy_headers=False)
    try:
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=HANG_GUARD) as c:
            guesses = [asyncio.create_task(c.post(endpoint, **guess(n))) for n in range(GUESSES)]
            await asyncio.wait_for(gate.reached.wait(), HANG_GUARD)
            await until_only(guesses, in_flight)  # the rest were refused at once

            cities = await c.get("/v1/cities")  # served while the checks are held

            assert cities.status_code == 200, cities.text
            if db_kind == "postgres":  # (on SQLite, a held write lock would have stopped it)
                assert await open_transactions(db) == 0
            assert gate.in_flight == in_flight  # still held when the answer came
            gate.opened.set()
            answers = await asyncio.gather(*guesses)
    finally:
        gate.opened.set()
        server.stop()

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {401: in_flight, 429: GUESSES - in_flight}, statuses
    assert all(a.headers["content-type"].startswith(PROBLEM) for a in answers)
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
