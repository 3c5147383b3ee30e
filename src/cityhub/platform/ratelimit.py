"""Rate limits per caller, shared by every process of the hub (the `limits` library).

Each call of a channel counts against the `default` policy of that channel
(`CITYHUB_RATE_LIMIT`); expensive operations (a payment's confirmation, a bill look-up that
asks the biller) count against `expensive` too (`CITYHUB_RATE_LIMIT_EXPENSIVE`), and token
requests against `token` per client id (`CITYHUB_RATE_LIMIT_TOKEN`). A policy is a `limits`
string such as `6000/minute` or `100/second;5000/hour`; an empty one, or
`CITYHUB_RATE_LIMITS=false`, limits nothing.

Counters live in Redis when `CITYHUB_REDIS_URL` is set (every replica then shares them), in
the process otherwise (each process counts its own). Answers carry the IETF httpapi
rate-limit headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "default";q=6000;
w=60` and `RateLimit: "default";r=5999;t=42`; past the limit the answer is a `429
rate_limited` problem with `Retry-After`. Keys are kept as keyed hashes. Should the
counters' store fail, calls go through (logged): a limit must not take the API down with it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from cityhub.platform.errors import TooManyRequests

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from cityhub.platform.config import Settings

log = structlog.get_logger("cityhub.ratelimit")
_STATE = "cityhub.ratelimit"  # what a request was counted against, for its answer's headers


@dataclass(frozen=True)
class Counted:
    """One limit a request was counted against, and what is left of it."""

    policy: str
    item: RateLimitItem
    remaining: int
    reset_seconds: int

    def policy_header(self) -> str:
        return f'"{self.policy}";q={self.item.amount};w={self.item.get_expiry()}'

    def header(self) -> str:
        return f'"{self.policy}";r={self.remaining};t={self.reset_seconds}'


class RateLimiter:
    """The hub's policies over one store of counters."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        self._hash_key = settings.hash_key.encode()
        self.policies: dict[str, list[RateLimitItem]] = {
            "default": _parse(settings.rate_limit),
            "expensive": _parse(settings.rate_limit_expensive),
            "token": _parse(settings.rate_limit_token),
        }
        storage: Storage = MemoryStorage()
        if settings.redis_url:
            storage = RedisStorage(
                "async+" + settings.redis_url,
                implementation="redispy",
                key_prefix=settings.rate_limit_prefix,
            )
        self.strategy = FixedWindowRateLimiter(storage)

    async def hit(self, request: Request, policy: str, key: str) -> None:
        """Count the request against the policy for `key`; 429 past any of its limits."""
        if not self.enabled:
            return
        # Stored as a keyed hash: a token request is counted by client id or address, and an
        # address is personal data.
        key = hmac.new(self._hash_key, key.encode(), hashlib.sha256).hexdigest()[:32]
        for item in self.policies[policy]:
            try:
                allowed = await self.strategy.hit(item, policy, key)
                stats = await self.strategy.get_window_stats(item, policy, key)
            except Exception as exc:  # the store is down: let the call through
                log.warning("rate_limit_store_failed", error=f"{type(exc).__name__}: {exc}")
                return
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            counted = Counted(policy, item, stats.remaining, reset)
            request.scope.setdefault(_STATE, []).append(counted)
            if not allowed:
                raise TooManyRequests(
                    f"more than {item.amount} calls per {item.get_expiry()} s ({policy} policy); "
                    f"retry after {reset} s",
                    code="rate_limited",
                    headers={"Retry-After": str(reset)},
                )


def _parse(text: str) -> list[RateLimitItem]:
    return parse_many(text) if text.strip() else []


def of(request: Request) -> RateLimiter:
    """The app's rate limiter."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


class RateLimitHeaders:
    """Adds `RateLimit-Policy` and `RateLimit` to every answer of a counted request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            counted: list[Counted] = scope.get(_STATE) or []
            if message["type"] == "http.response.start" and counted:
                headers: list[Any] = list(message.get("headers", []))
                policies = ", ".join(c.policy_header() for c in counted)
                left = ", ".join(c.header() for c in counted)
                headers.append((b"ratelimit-policy", policies.encode()))
                headers.append((b"ratelimit", left.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
