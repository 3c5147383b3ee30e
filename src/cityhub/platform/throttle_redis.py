"""Attempt counters in Redis (when `CITYHUB_REDIS_URL` is set): one hash per (scope, key),
taken by one Lua script, which Redis runs atomically, by the same rules as the database's.

Times are milliseconds from the hub's clock, passed in (so that tests can set the time); every
counter expires by itself once it is forgotten. If Redis does not answer, an attempt is refused
with 503: a guard that cannot count must not let guesses through uncounted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cityhub.platform.db import utcnow
from cityhub.platform.errors import Unavailable
from cityhub.platform.throttle import BackOff, Clock, Throttle

# KEYS[1] the counter; ARGV now, free, first wait, max wait, forget after (ms).
# Answers -1 when the attempt is counted, else the milliseconds it must still wait.
_TAKE = """
local now, free = tonumber(ARGV[1]), tonumber(ARGV[2])
local first, longest, forget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local row = redis.call('HMGET', KEYS[1], 'attempts', 'last', 'open')
local attempts, last, open = tonumber(row[1]) or 0, tonumber(row[2]) or 0, tonumber(row[3]) or 0
if open > now then return open - now end
if now - last >= forget then attempts = 0 end
attempts = attempts + 1
local wait = 0
if attempts >= free then
  wait = math.min(longest, first * 2 ^ math.min(attempts - free, 60))
end
wait = math.floor(wait)
-- No wait: open since always (0), not from now, which a request slightly behind would not reach.
local opens = 0
if wait > 0 then opens = now + wait end
redis.call('HSET', KEYS[1], 'attempts', attempts, 'last', now, 'open', opens, 'before', open)
redis.call('PEXPIRE', KEYS[1], forget + wait)
return -1
"""

# KEYS[1] the counter. One attempt fewer, and the wait as it was before that attempt.
_GIVE_BACK = """
local row = redis.call('HMGET', KEYS[1], 'attempts', 'before')
local attempts = tonumber(row[1]) or 0
if attempts <= 0 then return 0 end
redis.call('HSET', KEYS[1], 'attempts', attempts - 1, 'open', row[2] or 0)
return 1
"""


def _unavailable() -> Unavailable:
    return Unavailable(
        "the attempt counters do not answer; try again shortly", code="throttle_unavailable"
    )


def _ms(value: dt.timedelta | dt.datetime) -> int:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    return int(value.total_seconds() * 1000)


class RedisThrottle(Throttle):
    """Counters under `{prefix}throttle:{scope}:{key hash}`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        hash_key: str,
        prefix: str = "cityhub:",
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(hash_key=hash_key, clock=clock)
        self.client = client
        self.prefix = prefix
        self._take_script = client.register_script(_TAKE)
        self._give_back_script = client.register_script(_GIVE_BACK)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisThrottle:
        """Counters on the Redis server at `url` (short timeouts: a sign-in must not hang)."""
        client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, **options)

    def _key(self, policy: BackOff, key_hash: str) -> str:
        return f"{self.prefix}throttle:{policy.scope}:{key_hash}"

    async def _run(self, script: Any, key: str, *args: int) -> int:
        try:
            return int(await script(keys=[key], args=list(args)))
        except RedisError as exc:
            raise _unavailable() from exc

    async def _take(self, policy: BackOff, key_hash: str, now: dt.datetime) -> dt.timedelta | None:
        wait_ms = await self._run(
            self._take_script,
            self._key(policy, key_hash),
            _ms(now),
            policy.free,
            _ms(policy.first_wait),
            _ms(policy.max_wait),
            _ms(policy.forget_after),
        )
        return None if wait_ms < 0 else dt.timedelta(milliseconds=wait_ms)

    async def _open_at(self, policy: BackOff, key_hash: str) -> dt.datetime | None:
        try:
            found = await self.client.hget(self._key(policy, key_hash), "open")
        except RedisError as exc:
            raise _unavailable() from exc
        if found is None:
            return None
        return dt.datetime.fromtimestamp(float(found) / 1000, dt.UTC)

    async def _clear(self, policy: BackOff, key_hash: str) -> None:
        try:
            await self.client.delete(self._key(policy, key_hash))
        except RedisError as exc:
            raise _unavailable() from exc

    async def _give_back(self, policy: BackOff, key_hash: str) -> None:
        await self._run(self._give_back_script, self._key(policy, key_hash))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
