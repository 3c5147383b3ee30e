"""One check of a channel's secret for a crowd of requests that send the same one.

A channel renewing its token from many processes at once sends the same client id and secret
in each request. Checked one by one, every request would take an attempt from the account's
count before its argon2 check ends (`flows.authenticate_channel`): a crowd larger than
`CITYHUB_SIGN_IN_ATTEMPTS` would then shut the account against its own owner (429), and work
out the same 64 MiB hash once per request. So, in each process:

- requests with the same client id and secret while a check of them is in flight wait for
  that check and share its answer: one attempt counted, one hash worked out, for all of them;
- a pair found right is remembered for a while (`REMEMBER`), against the stored hash it was
  checked with: the next requests that send it are let in without a new argon2 check and
  without an attempt, as long as neither the account nor the address must wait (they are
  still refused with 429 then, like any other secret) and the channel still has that hash.

A wrong secret is never remembered and every distinct one is counted; a request only ever
skips the count with a secret already proven right. The pairs are kept as keyed hashes under
a key made afresh by each process, and only in its memory.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from cityhub.identity.models import Channel
from cityhub.platform.errors import CityHubError

REMEMBER = dt.timedelta(minutes=10)
MAX_REMEMBERED = 4096
_KEY = secrets.token_bytes(32)

Check = Callable[[], Coroutine[Any, Any, Channel]]


def pair_digest(client_id: str, client_secret: str) -> str:
    """What is kept of a client id and secret: a keyed hash, the key this process's own."""
    message = f"{client_id}\x00{client_secret}".encode()
    return hmac.new(_KEY, message, hashlib.sha256).hexdigest()


class ClientChecks:
    """The checks in flight and the pairs found right, of one process."""

    def __init__(self) -> None:
        self._flights: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task[Channel]] = {}
        self._right: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def proven_hash(self, digest: str) -> str | None:
        """The stored hash this pair was found right against, if recently."""
        found = self._right.get(digest)
        if found is None:
            return None
        stored, until = found
        if time.monotonic() >= until:
            del self._right[digest]
            return None
        return stored

    def remember(self, digest: str, stored_hash: str) -> None:
        """Note the pair as right against `stored_hash` (the oldest are let go past the cap)."""
        self._right[digest] = (stored_hash, time.monotonic() + REMEMBER.total_seconds())
        self._right.move_to_end(digest)
        while len(self._right) > MAX_REMEMBERED:
            self._right.popitem(last=False)

    def forget(self, digest: str) -> None:
        """Let go of a pair (its channel no longer has the hash it was right against)."""
        self._right.pop(digest, None)

    async def once(self, digest: str, check: Check) -> Channel:
        """The answer of `check`, run once for every request of this pair that comes while it
        runs; each request gets its own copy of a refusal."""
        key = (asyncio.get_running_loop(), digest)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.get_running_loop().create_task(check())
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        try:
            # Shielded: a caller that goes away does not cancel the others' check.
            return await asyncio.shield(flight)
        except CityHubError as exc:
            raise _own_copy(exc) from None


def _own_copy(exc: CityHubError) -> CityHubError:
    """A refusal that one request may change (the token route adds RFC 6749's fields)."""
    mine = copy.copy(exc)
    mine.headers, mine.extra = dict(exc.headers), dict(exc.extra)
    return mine


CHECKS = ClientChecks()
