"""Many processes of one channel renewing its token at once, with the right secret: every one
gets a token (or, truly overloaded, 503 with `Retry-After`), never a 500 and never a 429;
the crowd is checked with one argon2 hash and counted as no wrong attempt. Wrong secrets sent
at once are still limited (429, `Retry-After`, RFC 6749's fields), and a secret proven right
still waits while its account must.

The hub runs as a real server in a thread of its own; the clients are real concurrent HTTP
connections to it."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cityhub.app import create_app
from cityhub.identity import service as identity
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.throttle_sql import ThrottleCounter
from cityhub.simulators import serve_app_in_background
from tests.client import PROBLEM
from tests.identity.factories import SECRET, create_channel
from tests.platform.factories import FakeClock

RENEWALS = 30  # the burst the default `token` rate limit lets through, and more than enough


def _body(client_id: str, secret: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}


@asynccontextmanager
async def _hub(settings: Settings, clock: FakeClock | None = None) -> AsyncIterator[Any]:
    """The hub served over HTTP, and a client with a connection for each concurrent call."""
    app = create_app(settings)
    if clock is not None:
        app.state.throttle.clock = clock
    server = serve_app_in_background(app, lifespan="on", proxy_headers=False)
    limits = httpx.Limits(max_connections=2 * RENEWALS)
    try:
        async with httpx.AsyncClient(
            base_url=server.url, trust_env=False, timeout=60, limits=limits
        ) as client:
            yield client
    finally:
        server.stop()


async def _at_once(client: httpx.AsyncClient, bodies: list[dict[str, str]]) -> list[Any]:
    return list(await asyncio.gather(*[client.post("/v1/oauth/token", data=b) for b in bodies]))


@contextmanager
def _counted_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Each argon2 verification the hub makes, as it makes it."""
    checks: list[str] = []
    lock = threading.Lock()
    verify = PasswordHasher.verify

    def counting(self: PasswordHasher, stored: str | bytes, secret: str | bytes) -> bool:
        with lock:
            checks.append(str(stored))
        return verify(self, stored, secret)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    yield checks


async def _counters(db: Database, scope: str) -> list[int]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(ThrottleCounter.attempts).where(ThrottleCounter.scope == scope)
        )
        return list(rows)


def _oauth_problem(answer: Any, status: int, error: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = answer.json()
    assert body["error"] == error and body["error_description"]
    return body


@pytest.mark.parametrize("renewals", [12, RENEWALS])
async def test_concurrent_renewals_with_the_right_secret_all_get_a_token_from_one_check(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, renewals: int
) -> None:
    login = await create_channel(db)
    with _counted_checks(monkeypatch) as checks:
        async with _hub(settings) as client:
            answers = await _at_once(client, [_body(login.client_id, SECRET)] * renewals)
            late = await _at_once(client, [_body(login.client_id, SECRET)] * renewals)

    statuses = Counter(a.status_code for a in answers + late)
    assert statuses == {200: 2 * renewals}, [a.text for a in answers if a.status_code != 200]
    assert all(a.json()["access_token"] and a.json()["mode"] == "live" for a in answers)
    # Counted against the `token` rate limit, whose burst they all fit in.
    assert all('"token";q=120;w=60' in a.headers["ratelimit-policy"] for a in answers)
    assert len(checks) == 1  # one argon2 hash for the whole crowd, none for the late ones
    assert await _counters(db, "sign_in.client") == []  # no wrong attempt left on the account
    assert await _counters(db, "sign_in.address") == [0]


async def test_concurrent_wrong_secrets_are_still_limited(db: Database, settings: Settings) -> None:
    login = await create_channel(db)
    guesses = [_body(login.client_id, f"guess-{n}") for n in range(RENEWALS)]
    async with _hub(settings, FakeClock()) as client:  # time stands still: no wait runs out
        answers = await _at_once(client, guesses)
        # Even the right secret waits now: a refusal must not tell a guess it was right.
        right = await client.post("/v1/oauth/token", data=_body(login.client_id, SECRET))

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {401: settings.sign_in_attempts, 429: RENEWALS - settings.sign_in_attempts}
    for answer in answers:
        if answer.status_code == 401:
            assert _oauth_problem(answer, 401, "invalid_client")["code"] == "invalid_client"
            assert answer.headers["www-authenticate"].startswith("Basic")
        else:
            body = _oauth_problem(answer, 429, "temporarily_unavailable")
            assert body["code"] == "too_many_attempts"
            assert int(answer.headers["retry-after"]) == body["retry_after"] >= 1
    _oauth_problem(right, 429, "temporarily_unavailable")


async def test_the_same_wrong_secret_sent_at_once_is_one_wrong_attempt(
    db: Database, settings: Settings
) -> None:
    """A channel whose processes all hold a stale secret: each gets 401, and the account
    counts one wrong attempt, not one per process (the same guess again tells nothing)."""
    login = await create_channel(db)
    async with _hub(settings, FakeClock()) as client:
        answers = await _at_once(client, [_body(login.client_id, "stale")] * RENEWALS)
        renewed = await client.post("/v1/oauth/token", data=_body(login.client_id, SECRET))

    assert Counter(a.status_code for a in answers) == {401: RENEWALS}
    assert all(_oauth_problem(a, 401, "invalid_client") for a in answers)
    assert renewed.status_code == 200, renewed.text


async def test_a_secret_proven_right_still_waits_while_its_account_must(
    db: Database, settings: Settings
) -> None:
    login = await create_channel(db)
    clock = FakeClock()
    async with _hub(settings, clock) as client:
        first = await client.post("/v1/oauth/token", data=_body(login.client_id, SECRET))
        for n in range(settings.sign_in_attempts):
            guess = await client.post("/v1/oauth/token", data=_body(login.client_id, f"g{n}"))
            _oauth_problem(guess, 401, "invalid_client")

        waits = await _at_once(client, [_body(login.client_id, SECRET)] * RENEWALS)
        clock.advance(1)
        after = await _at_once(client, [_body(login.client_id, SECRET)] * RENEWALS)

    assert first.status_code == 200, first.text
    assert Counter(a.status_code for a in waits) == {429: RENEWALS}
    assert all(int(a.headers["retry-after"]) >= 1 for a in waits)
    assert Counter(a.status_code for a in after) == {200: RENEWALS}


async def test_renewals_beyond_the_pool_are_shed_with_503_never_500(
    db: Database, settings: Settings
) -> None:
    """Many channels renewing at once (each its own check) on one pooled connection that a
    request may wait for only 10 ms: the hub answers each 200 or sheds it 503."""
    logins = [await create_channel(db) for _ in range(RENEWALS)]
    starved = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_seconds": 0.01}
    )
    async with _hub(starved) as client:
        answers = await _at_once(client, [_body(login.client_id, SECRET) for login in logins])

    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 503} and statuses[200] >= 1, statuses
    for answer in answers:
        if answer.status_code == 503:
            body = _oauth_problem(answer, 503, "temporarily_unavailable")
            assert body["code"] == "overloaded" and int(answer.headers["retry-after"]) >= 1


async def test_a_renewal_shed_before_its_check_is_not_counted_as_a_wrong_attempt(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = await create_channel(db)
    read = identity.get_channel_by_client_id

    async def pool_exhausted(**_: Any) -> None:
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(identity, "get_channel_by_client_id", pool_exhausted)
    async with _hub(settings, FakeClock()) as client:
        for _ in range(settings.sign_in_attempts + 1):  # one by one: each its own check
            shed = await client.post("/v1/oauth/token", data=_body(login.client_id, SECRET))
            assert _oauth_problem(shed, 503, "temporarily_unavailable")["code"] == "overloaded"
        monkeypatch.setattr(identity, "get_channel_by_client_id", read)
        renewed = await client.post("/v1/oauth/token", data=_body(login.client_id, SECRET))

    assert renewed.status_code == 200, renewed.text  # not 429: no wrong attempt was counted
    assert await _counters(db, "sign_in.address") == [0]
