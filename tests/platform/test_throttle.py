"""Attempt counters: free attempts, then a wait that doubles up to a ceiling; refused attempts
are not counted; concurrent attempts cannot slip past; the same rules in the database (SQLite,
PostgreSQL) and in Redis."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import TooManyRequests, Unavailable
from cityhub.platform.throttle import BackOff, Throttle, throttle_for
from cityhub.platform.throttle_redis import RedisThrottle
from cityhub.platform.throttle_sql import DatabaseThrottle, ThrottleCounter
from tests.platform.factories import HASH_KEY, FakeClock, database_throttle, redis_or_skip

POLICY = BackOff(
    scope="test.guess",
    free=3,
    first_wait=dt.timedelta(seconds=1),
    max_wait=dt.timedelta(seconds=8),
    forget_after=dt.timedelta(hours=1),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["database", "redis"])
async def throttle(
    request: pytest.FixtureRequest, db: Database, clock: FakeClock
) -> AsyncIterator[Throttle]:
    """Each store in turn; Redis keys under a prefix of this test's own."""
    if request.param == "database":
        yield database_throttle(db, clock)
        return
    client = aioredis.Redis.from_url(redis_or_skip())
    prefix = f"cityhub-test-{uuid.uuid4().hex}:"
    try:
        yield RedisThrottle(client, hash_key=HASH_KEY, prefix=prefix, clock=clock)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def refused_for(throttle: Throttle, key: str, policy: BackOff = POLICY) -> int:
    """The Retry-After of a refused attempt (failing the test if it was let through)."""
    with pytest.raises(TooManyRequests) as refused:
        await throttle.take(policy, key)
    assert refused.value.code == "too_many_attempts"
    assert refused.value.headers["Retry-After"] == str(refused.value.extra["retry_after"])
    return int(refused.value.headers["Retry-After"])


async def test_free_attempts_then_a_wait_that_doubles_up_to_the_ceiling(
    throttle: Throttle, clock: FakeClock
) -> None:
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    waits = []
    for _ in range(6):
        wait = await refused_for(throttle, "alice")
        waits.append(wait)
        clock.advance(wait)
        await throttle.take(POLICY, "alice")  # after waiting, one more attempt goes through
    assert waits == [1, 2, 4, 8, 8, 8]


async def test_refused_attempts_do_not_lengthen_the_wait(
    throttle: Throttle, clock: FakeClock
) -> None:
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    for _ in range(20):  # hammering while refused
        assert await refused_for(throttle, "alice") == 1
    clock.advance(1)
    await throttle.take(POLICY, "alice")
    assert await refused_for(throttle, "alice") == 2  # the count went on from 3, not from 23


async def test_clear_forgets_and_give_back_returns_one_attempt(
    throttle: Throttle, clock: FakeClock
) -> None:
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    await throttle.clear(POLICY, "alice")
    for _ in range(POLICY.free):  # a clean slate
        await throttle.take(POLICY, "alice")
    await refused_for(throttle, "alice")

    for _ in range(10):  # attempts given back cost nothing
        await throttle.take(POLICY, "bob")
        await throttle.give_back(POLICY, "bob")
    for _ in range(POLICY.free - 1):
        await throttle.take(POLICY, "bob")
    await throttle.take(POLICY, "bob")
    await throttle.give_back(POLICY, "bob")  # the one that shut the key: open again
    await throttle.take(POLICY, "bob")
    await refused_for(throttle, "bob")


async def test_check_refuses_while_a_key_waits_and_counts_nothing(
    throttle: Throttle, clock: FakeClock
) -> None:
    for _ in range(50):  # an unknown key, then an open one: let through, never counted
        await throttle.check(POLICY, "alice")
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    with pytest.raises(TooManyRequests) as refused:
        await throttle.check(POLICY, "alice")
    assert refused.value.headers["Retry-After"] == "1"
    clock.advance(1)
    await throttle.check(POLICY, "alice")
    await throttle.take(POLICY, "alice")
    assert await refused_for(throttle, "alice") == 2  # the checks added nothing to the count


async def test_keys_and_scopes_count_apart_and_a_quiet_key_starts_afresh(
    throttle: Throttle, clock: FakeClock
) -> None:
    other_scope = BackOff(**{**POLICY.__dict__, "scope": "test.other"})
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    await refused_for(throttle, "alice")
    await throttle.take(POLICY, "bob")
    await throttle.take(other_scope, "alice")

    clock.advance(POLICY.forget_after.total_seconds())
    for _ in range(POLICY.free):
        await throttle.take(POLICY, "alice")
    assert await refused_for(throttle, "alice") == 1  # back at the first wait


async def test_concurrent_attempts_never_pass_more_than_the_free_ones(
    throttle: Throttle,
) -> None:
    async def attempt() -> bool:
        try:
            await throttle.take(POLICY, "carol")
        except TooManyRequests:
            return False
        return True

    passed = await asyncio.gather(*(attempt() for _ in range(25)))

    assert sum(passed) == POLICY.free


async def test_an_attempt_that_read_the_clock_a_moment_earlier_is_not_shut_out(
    throttle: Throttle, clock: FakeClock
) -> None:
    """Concurrent requests read the clock, then queue for the counter: the one counted first
    may have read it later. Without a wait due, the other must still get through."""
    clock.advance(5)
    await throttle.take(POLICY, "dave")
    clock.advance(-1)
    await throttle.take(POLICY, "dave")
    clock.advance(-1)
    await throttle.take(POLICY, "dave")  # the third: now the key waits
    assert await refused_for(throttle, "dave") == 1


async def test_keys_are_kept_only_as_keyed_hashes(db: Database, clock: FakeClock) -> None:
    throttle = database_throttle(db, clock)
    await throttle.take(POLICY, "203.0.113.9")
    async with db.unit_of_work() as session:
        row = (await session.scalars(select(ThrottleCounter))).one()
    assert row.key_hash == throttle.key_hash(POLICY, "203.0.113.9")
    assert "203.0.113.9" not in row.key_hash and len(row.key_hash) == 64
    assert throttle.key_hash(POLICY, "x") != DatabaseThrottle(db, hash_key="another").key_hash(
        POLICY, "x"
    )


async def test_forgotten_counters_are_pruned(db: Database, clock: FakeClock) -> None:
    throttle = DatabaseThrottle(db, hash_key=HASH_KEY, clock=clock)
    await throttle.take(POLICY, "old")
    clock.advance(POLICY.forget_after.total_seconds() + 1)
    await throttle.take(POLICY, "recent")

    assert await throttle.prune(POLICY) == 1

    async with db.unit_of_work() as session:
        left = (await session.scalars(select(ThrottleCounter.key_hash))).all()
    assert left == [throttle.key_hash(POLICY, "recent")]


async def test_redis_that_does_not_answer_refuses_the_attempt() -> None:
    throttle = RedisThrottle.from_url("redis://127.0.0.1:1/0", hash_key=HASH_KEY)
    try:
        with pytest.raises(Unavailable) as refused:
            await throttle.take(POLICY, "alice")
    finally:
        await throttle.aclose()
    assert refused.value.status == 503 and refused.value.code == "throttle_unavailable"


def test_the_store_follows_the_settings(db: Database) -> None:
    assert isinstance(throttle_for(Settings(env="test"), db), DatabaseThrottle)
    chosen = throttle_for(Settings(env="test", redis_url="redis://127.0.0.1:6379/0"), db)
    assert isinstance(chosen, RedisThrottle)


def test_a_back_off_must_make_sense() -> None:
    assert POLICY.steps() == [
        (3, dt.timedelta(seconds=1)),
        (4, dt.timedelta(seconds=2)),
        (5, dt.timedelta(seconds=4)),
    ]
    assert POLICY.wait_after(2) == dt.timedelta(0)
    assert POLICY.wait_after(10_000) == POLICY.max_wait
    with pytest.raises(ValueError):
        BackOff(**{**POLICY.__dict__, "free": 0})
    with pytest.raises(ValueError):  # forgotten before the longest wait is over
        BackOff(**{**POLICY.__dict__, "forget_after": dt.timedelta(seconds=5)})
