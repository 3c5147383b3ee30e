"""No unlimited guessing: wrong client secrets and staff passwords are limited per account and
per client address, with a growing wait, answered 429 problem+json with `Retry-After`; the
right secret clears the account's count; nobody is locked out for good."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.throttle_redis import RedisThrottle
from cityhub.platform.throttle_sql import ThrottleCounter
from tests.cities.factories import create_city
from tests.client import PROBLEM, Api
from tests.identity.factories import PASSWORD, SECRET, create_channel, create_staff
from tests.platform.factories import HASH_KEY, FakeClock, redis_or_skip

ATTEMPTS, PER_ADDRESS, LONGEST = 3, 4, 16
At = Callable[[str], Awaitable[Api]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sign_in_attempts": ATTEMPTS,
            "sign_in_attempts_per_address": PER_ADDRESS,
            "sign_in_max_wait_seconds": LONGEST,
        }
    )


@pytest.fixture
def clock(app: Any) -> FakeClock:
    """The time the app's attempt counters read."""
    clock = FakeClock()
    app.state.throttle.clock = clock
    return clock


@pytest.fixture
async def at(app: Any) -> AsyncIterator[At]:
    """Clients calling from the address given."""
    async with AsyncExitStack() as stack:

        async def client_at(address: str) -> Api:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://hub.test")
            return Api(await stack.enter_async_context(client))

        yield client_at


async def token(api: Api, client_id: str, secret: str, *, expect: int) -> Any:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return await api.post("/v1/oauth/token", data=data, expect=expect)


async def staff_session(api: Api, username: str, password: str, *, expect: int) -> Any:
    login = {"username": username, "password": password}
    return await api.post("/v1/staff/session", json=login, expect=expect)


def wait_of(api: Api, body: dict[str, Any]) -> int:
    """The wait of a 429 answer, checked to be a proper problem."""
    assert api.last is not None and api.last.status_code == 429
    assert api.last.headers["content-type"].startswith(PROBLEM)
    assert body["code"] == "too_many_attempts"
    wait = int(api.last.headers["retry-after"])
    assert body["retry_after"] == wait >= 1
    return wait


async def test_wrong_client_secrets_back_off_and_the_right_one_clears_the_count(
    db: Database, at: At, clock: FakeClock
) -> None:
    login = await create_channel(db)
    guesser, owner = await at("203.0.113.1"), await at("203.0.113.2")
    for _ in range(ATTEMPTS):
        await token(guesser, login.client_id, "guess", expect=401)

    # Even the right secret waits: a refusal must not tell a guess that it was right.
    refused = await token(owner, login.client_id, SECRET, expect=429)
    assert wait_of(owner, refused) == 1 and "account" in refused["detail"]
    clock.advance(1)
    await token(owner, login.client_id, SECRET, expect=200)

    # Cleared: the next guesses start from nothing again.
    guesser = await at("203.0.113.3")
    for _ in range(ATTEMPTS):
        await token(guesser, login.client_id, "guess", expect=401)
    await token(guesser, login.client_id, "guess", expect=429)


async def test_an_address_guessing_many_client_ids_backs_off_but_right_secrets_are_free(
    db: Database, at: At, clock: FakeClock
) -> None:
    login = await create_channel(db)
    office = await at("203.0.113.10")
    for _ in range(PER_ADDRESS + 1):  # a channel's servers behind one address: never limited
        await token(office, login.client_id, SECRET, expect=200)
    for n in range(PER_ADDRESS):  # each client id guessed once: no account's limit is reached
        await token(office, f"ch_ghost{n}", "guess", expect=401)

    refused = await token(office, "ch_ghost_new", "guess", expect=429)

    assert wait_of(office, refused) == 1 and "address" in refused["detail"]
    await token(await at("203.0.113.11"), "ch_ghost_new", "guess", expect=401)  # elsewhere
    # Signing in to a real channel from there does not wash its guesses away.
    clock.advance(1)
    await token(office, login.client_id, SECRET, expect=200)
    await token(office, "ch_ghost_next", "guess", expect=401)
    await token(office, "ch_ghost_last", "guess", expect=429)


async def test_staff_passwords_back_off_per_username(
    db: Database, at: At, clock: FakeClock
) -> None:
    city = await create_city(db)
    await create_staff(db, city=city, username="alice")
    await create_staff(db, city=city, username="bob")
    guesser, colleague = await at("198.51.100.1"), await at("198.51.100.2")
    for _ in range(ATTEMPTS):
        await staff_session(guesser, "alice", "guess", expect=401)

    refused = await staff_session(colleague, "alice", PASSWORD, expect=429)

    assert wait_of(colleague, refused) == 1
    assert colleague.last is not None and "set-cookie" not in colleague.last.headers
    await staff_session(colleague, "bob", PASSWORD, expect=200)  # another account: untouched
    clock.advance(1)
    await staff_session(colleague, "alice", PASSWORD, expect=200)


async def test_an_account_under_attack_is_never_locked_for_good(
    db: Database, at: At, clock: FakeClock
) -> None:
    """Guesses from ever new addresses (a botnet) make the account's wait grow to its ceiling
    and no further; the owner gets in by waiting it out once."""
    await create_staff(db, city=await create_city(db), username="alice")
    for n in range(ATTEMPTS):
        await staff_session(await at(f"192.0.2.{n}"), "alice", "guess", expect=401)
    waits = []
    for n in range(6):
        bot = await at(f"192.0.2.{100 + n}")
        waits.append(wait_of(bot, await staff_session(bot, "alice", "guess", expect=429)))
        clock.advance(waits[-1])
        await staff_session(bot, "alice", "guess", expect=401)

    assert waits == [1, 2, 4, 8, 16, 16]
    owner = await at("192.0.2.250")
    assert wait_of(owner, await staff_session(owner, "alice", PASSWORD, expect=429)) == LONGEST
    clock.advance(LONGEST)
    await staff_session(owner, "alice", PASSWORD, expect=200)


async def test_counters_hold_no_username_or_address(db: Database, at: At) -> None:
    await staff_session(await at("203.0.113.77"), "someone-real", "x", expect=401)

    async with db.unit_of_work() as session:
        rows = (await session.scalars(select(ThrottleCounter))).all()

    assert sorted(r.scope for r in rows) == ["sign_in.address", "sign_in.staff"]
    assert all("someone" not in r.key_hash and "203.0.113" not in r.key_hash for r in rows)


async def test_the_limits_hold_with_the_counters_in_redis(db: Database, app: Any, at: At) -> None:
    client = aioredis.Redis.from_url(redis_or_skip())
    prefix = f"cityhub-test-{uuid.uuid4().hex}:"
    app.state.throttle = RedisThrottle(client, hash_key=HASH_KEY, prefix=prefix, clock=FakeClock())
    try:
        login = await create_channel(db)
        guesser = await at("203.0.113.20")
        for _ in range(ATTEMPTS):
            await token(guesser, login.client_id, "guess", expect=401)
        refused = await token(guesser, login.client_id, SECRET, expect=429)
        assert wait_of(guesser, refused) == 1
        assert [key async for key in client.scan_iter(match=f"{prefix}*")]
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
