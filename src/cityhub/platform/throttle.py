"""Limits on repeated attempts (guessing a secret, asking for codes), counted so that every
replica of the hub sees the same count.

A `BackOff` says how many attempts a key (a client id, a username, a client address, a phone
number) gets before it must wait, and how the wait grows: after `free` attempts the next one
waits `first_wait`, each further attempt doubles the wait, up to `max_wait`; a key left alone
for `forget_after` starts afresh. An attempt is taken *before* the work it guards, with one
conditional statement, so that concurrent attempts cannot all slip past a check. A refused
attempt is not counted: waiting is always enough, nobody is locked out for good.

What the attempt turned out to be may change the count afterwards: `clear` forgets a key (the
right password for an account: its owner proved it), `give_back` undoes the one attempt just
taken, its count and the wait it set (the right password from an address: it neither wipes
the guesses made from there against other accounts nor makes their wait longer). `check`
refuses like `take` while a key waits, but counts nothing: for a secret already proven right
(`identity/client_checks.py`), which is no guess, yet must wait like any other.

Counters live in the database by default (`throttle_sql`: every replica already shares it, on
SQLite as on PostgreSQL), or in Redis when `CITYHUB_REDIS_URL` is set (`throttle_redis`). Keys
are kept only as keyed hashes: an address or a username is personal data.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import structlog

from cityhub.platform.db import utcnow
from cityhub.platform.errors import TooManyRequests

if TYPE_CHECKING:
    from cityhub.platform.config import Settings
    from cityhub.platform.db import Database

log = structlog.get_logger("cityhub.throttle")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class BackOff:
    """How often one key may try, and what a refusal says (`code`, `detail`, `field`)."""

    scope: str
    free: int
    first_wait: dt.timedelta
    max_wait: dt.timedelta
    forget_after: dt.timedelta
    code: str = "too_many_attempts"
    detail: str = "too many attempts; wait before trying again"
    field: str | None = None

    def __post_init__(self) -> None:
        if self.free < 1 or self.first_wait <= dt.timedelta(0):
            raise ValueError("a back-off allows at least one attempt and waits a positive time")
        if not self.first_wait <= self.max_wait <= self.forget_after:
            # A key forgotten before its wait is over would start afresh after every wait.
            raise ValueError("first_wait <= max_wait <= forget_after must hold")

    def wait_after(self, attempts: int) -> dt.timedelta:
        """The wait before the next attempt once a key has made `attempts` attempts."""
        if attempts < self.free:
            return dt.timedelta(0)
        doublings = min(attempts - self.free, 60)
        seconds = self.first_wait.total_seconds() * 2.0**doublings
        return dt.timedelta(seconds=min(self.max_wait.total_seconds(), seconds))

    def steps(self) -> list[tuple[int, dt.timedelta]]:
        """Each count from `free` on whose wait is still below `max_wait`, with that wait
        (every larger count waits `max_wait`)."""
        found = []
        attempts = self.free
        while (wait := self.wait_after(attempts)) < self.max_wait:
            found.append((attempts, wait))
            attempts += 1
        return found


class Throttle(abc.ABC):
    """Attempt counters shared by every replica; see the module's text for the rules."""

    def __init__(self, *, hash_key: str, clock: Clock = utcnow) -> None:
        self._hash_key = hash_key.encode()
        self.clock = clock

    def key_hash(self, policy: BackOff, key: str) -> str:
        """What is stored of a key: a keyed hash, separate per scope."""
        message = f"{policy.scope}\x00{key}".encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()

    async def take(self, policy: BackOff, key: str) -> None:
        """Count an attempt of `key`, or refuse it (429 with `Retry-After`) while it waits."""
        wait = await self._take(policy, self.key_hash(policy, key), self.clock())
        if wait is not None:
            self._refuse(policy, wait)

    async def check(self, policy: BackOff, key: str) -> None:
        """Refuse (429 with `Retry-After`) while `key` waits, counting nothing either way."""
        now = self.clock()
        open_at = await self._open_at(policy, self.key_hash(policy, key))
        if open_at is not None and open_at > now:
            self._refuse(policy, open_at - now)

    def _refuse(self, policy: BackOff, wait: dt.timedelta) -> NoReturn:
        seconds = max(1, math.ceil(wait.total_seconds()))
        log.warning("attempt_refused", scope=policy.scope, retry_after=seconds)
        raise TooManyRequests(
            f"{policy.detail} (about {seconds} s)",
            code=policy.code,
            field=policy.field,
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
        )

    async def clear(self, policy: BackOff, key: str) -> None:
        """Forget every attempt of `key`."""
        await self._clear(policy, self.key_hash(policy, key))

    async def give_back(self, policy: BackOff, key: str) -> None:
        """Undo the attempt `key` has just taken (it turned out to be no guess): one fewer in
        the count, and the wait as it was before."""
        await self._give_back(policy, self.key_hash(policy, key))

    async def aclose(self) -> None:  # noqa: B027 (most stores have nothing to close)
        """Let go of connections (nothing for the database, which the app closes itself)."""

    @abc.abstractmethod
    async def _take(self, policy: BackOff, key_hash: str, now: dt.datetime) -> dt.timedelta | None:
        """Count the attempt and answer None, or answer how long it must still wait."""

    @abc.abstractmethod
    async def _open_at(self, policy: BackOff, key_hash: str) -> dt.datetime | None:
        """When the key may try again, if it is known."""

    @abc.abstractmethod
    async def _clear(self, policy: BackOff, key_hash: str) -> None: ...

    @abc.abstractmethod
    async def _give_back(self, policy: BackOff, key_hash: str) -> None: ...


def throttle_for(settings: Settings, db: Database) -> Throttle:
    """The counters the settings ask for: Redis when `CITYHUB_REDIS_URL` is set, else the
    database."""
    if settings.redis_url:
        from cityhub.platform.throttle_redis import RedisThrottle

        return RedisThrottle.from_url(settings.redis_url, hash_key=settings.hash_key)
    from cityhub.platform.throttle_sql import DatabaseThrottle

    return DatabaseThrottle(db, hash_key=settings.hash_key)
