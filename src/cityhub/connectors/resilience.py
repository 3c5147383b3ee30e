"""The same resilience for every connector: timeout, retries, circuit breaker, in-flight cap.

Each (city, service) has one `Guard` per hub process, and so does each connector description a
city tries (state in memory: replicas each learn on their own that a provider is down, which
takes `failure_threshold` failed calls apiece). Guards are the city's own: what one city's
admin sets for a service never touches another city's calls, even to the same provider. The
policy is read with the service at every call, and a guard adopts a changed policy at once
(no restart), keeping its breaker's state. A call goes:

1. the breaker: open -> fail at once with 503 and `Retry-After` (no call leaves the hub);
   half-open -> one trial call goes through, the others fail fast until it answers;
2. the in-flight cap: over `max_in_flight` calls to this provider -> fail at once with 503;
3. the call itself, bounded by `timeout` per attempt; a failure (timeout, transport error,
   5xx, malformed answer) counts against the breaker; an answer of the provider's own rules
   (no such account, not your records) is a success for the breaker and goes to the caller;
4. retries with exponential backoff and full jitter, for idempotent calls only, and never
   once the breaker has opened.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from cityhub.platform import metrics
from cityhub.platform.clock import clock as hub_clock
from cityhub.platform.config import Settings
from cityhub.platform.errors import BadGateway, CityHubError, Unavailable, Unprocessable

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_STATE_METRIC = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


class ProviderFailure(Exception):
    """The provider failed (transport error, 5xx): retryable, counts against the breaker."""


class ProviderUnavailable(Unavailable):
    """The provider cannot be reached now; `Retry-After` says when to try again."""

    code = "provider_unavailable"
    title = "The provider is unavailable"


# What a city admin may override per service or description: type, lowest, highest.
BOUNDS: dict[str, tuple[type[int] | type[float], float, float]] = {
    "timeout": (float, 0.1, 60),
    "retries": (int, 0, 5),
    "failure_threshold": (int, 1, 100),
    "reset_after": (float, 0.1, 3600),
    "max_in_flight": (int, 1, 1000),
    "max_response_bytes": (int, 1024, 10_000_000),
}


def check_overrides(overrides: Any, *, field: str) -> dict[str, Any]:
    """The overrides as numbers if each is known and within its bounds; Unprocessable naming
    the first that is not (what an admin writes is checked before it is stored)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise Unprocessable(
            "resilience is an object of settings", code="invalid_resilience", field=field
        )
    checked: dict[str, Any] = {}
    for name, value in overrides.items():
        where = f"{field}.{name}"
        if name not in BOUNDS:
            known = ", ".join(BOUNDS)
            raise Unprocessable(
                f"unknown resilience setting {name!r} (known: {known})",
                code="invalid_resilience",
                field=where,
            )
        kind, low, high = BOUNDS[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and not float(value).is_integer()):
            raise Unprocessable(
                f"{name} must be {'a whole number' if kind is int else 'a number'}",
                code="invalid_resilience",
                field=where,
            )
        if not low <= value <= high:
            raise Unprocessable(
                f"{name} must be between {low:g} and {high:g}",
                code="invalid_resilience",
                field=where,
            )
        checked[name] = kind(value)
    return checked


@dataclass(frozen=True)
class Policy:
    """How a provider is called; defaults from settings, overridable per service."""

    timeout: float = 5.0
    retries: int = 2
    backoff_base: float = 0.1
    backoff_max: float = 2.0
    failure_threshold: int = 5
    reset_after: float = 30.0
    max_in_flight: int = 20
    max_response_bytes: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Settings, overrides: dict[str, Any] | None = None) -> Policy:
        """The settings' policy with a service's `resilience` overrides applied."""
        policy = cls(
            timeout=settings.connector_timeout_seconds,
            retries=settings.connector_retries,
            failure_threshold=settings.connector_failure_threshold,
            reset_after=settings.connector_reset_seconds,
            max_in_flight=settings.connector_max_in_flight,
            max_response_bytes=settings.connector_max_response_bytes,
        )
        if not overrides:
            return policy
        try:
            known = check_overrides(overrides, field="resilience")
        except Unprocessable as exc:  # stored before overrides were checked at write time
            raise Unavailable(
                f"the service's {exc.field}: {exc.detail}", code="connector_misconfigured"
            ) from None
        return replace(policy, **known)


@dataclass
class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `reset_after` seconds lets one
    trial call through (half-open); its success closes the breaker, its failure reopens it."""

    threshold: int
    reset_after: float
    clock: Callable[[], float] = hub_clock.monotonic
    failures: int = 0
    opened_at: float | None = None
    trial_running: bool = False

    @property
    def state(self) -> BreakerState:
        """The state now (open turns half-open by itself once `reset_after` has passed)."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.reset_after:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def retry_after(self) -> int:
        """Whole seconds until a trial call will be let through."""
        if self.opened_at is None:
            return 1
        left = self.reset_after - (self.clock() - self.opened_at)
        return max(1, math.ceil(left))

    def admit(self) -> bool:
        """Whether a call may go out now (taking the one trial slot when half-open)."""
        state = self.state
        if state == BreakerState.CLOSED:
            return True
        if state == BreakerState.HALF_OPEN and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def abandoned(self) -> None:
        """A call was cancelled before it ended (the caller went away): free the trial slot
        without judging the provider."""
        self.trial_running = False

    def succeeded(self) -> None:
        """A call went well: close."""
        self.failures = 0
        self.opened_at = None
        self.trial_running = False

    def failed(self) -> None:
        """A call failed: count it, and (re)open at the threshold or after a failed trial."""
        self.failures += 1
        if self.trial_running or self.failures >= self.threshold:
            self.opened_at = self.clock()
        self.trial_running = False


@dataclass
class Guard:
    """The resilience state of one (city, service) in this process; `provider` is what the
    provider is called in answers, `name` the guard's own (metrics, /readyz)."""

    provider: str
    policy: Policy
    breaker: CircuitBreaker
    name: str = ""
    in_flight: int = 0
    calls: int = 0
    last_error: str | None = None
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def create(cls, provider: str, policy: Policy, *, name: str | None = None) -> Guard:
        """A fresh guard: breaker closed, nothing in flight."""
        breaker = CircuitBreaker(threshold=policy.failure_threshold, reset_after=policy.reset_after)
        return cls(provider=provider, policy=policy, breaker=breaker, name=name or provider)

    def adopt(self, policy: Policy) -> None:
        """Take a changed policy now; the breaker keeps its count and state, calls in flight
        finish under the policy they started with."""
        self.policy = policy
        self.breaker.threshold = policy.failure_threshold
        self.breaker.reset_after = policy.reset_after

    def snapshot(self) -> dict[str, Any]:
        """The state to show in /readyz and the console."""
        state = self.breaker.state
        return {
            "provider": self.provider,
            "breaker": state.value,
            "consecutive_failures": self.breaker.failures,
            "in_flight": self.in_flight,
            "max_in_flight": self.policy.max_in_flight,
            "calls": self.calls,
            "last_error": self.last_error,
            "retry_after": self.breaker.retry_after() if state != BreakerState.CLOSED else None,
        }

    def publish(self) -> None:
        """Copy the state to the Prometheus gauges."""
        metrics.CONNECTOR_BREAKER.labels(self.name).set(_STATE_METRIC[self.breaker.state])
        metrics.CONNECTOR_IN_FLIGHT.labels(self.name).set(self.in_flight)

    def _unavailable(self, detail: str, code: str) -> ProviderUnavailable:
        retry = self.breaker.retry_after()
        return ProviderUnavailable(
            detail,
            code=code,
            headers={"Retry-After": str(retry)},
            provider=self.provider,
            breaker=self.breaker.state.value,
            retry_after=retry,
        )

    async def call(
        self, operation: str, attempt: Callable[[], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """Run `attempt` under the breaker, the cap, the timeout and (if idempotent) retries."""
        # A count, not a semaphore: the cap can change while calls are in flight. Checking and
        # counting happen with no await between them, so no two calls take the last place.
        if self.in_flight >= self.policy.max_in_flight:
            self._count(operation, "busy")
            raise self._unavailable(
                f"too many calls in flight to {self.provider}; retry shortly", "provider_busy"
            )
        self.in_flight += 1
        self.publish()
        try:
            return await self._attempts(operation, attempt, idempotent)
        finally:
            self.in_flight -= 1
            self.publish()

    async def _attempts(
        self, operation: str, attempt: Callable[[], Awaitable[T]], idempotent: bool
    ) -> T:
        tries = 1 + (self.policy.retries if idempotent else 0)
        for number in range(tries):
            if not self.breaker.admit():
                self._count(operation, "rejected")
                raise self._unavailable(
                    f"{self.provider} is failing; the hub stopped calling it for now",
                    "circuit_open",
                )
            self.calls += 1
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.policy.timeout):
                    result = await attempt()
            except TimeoutError:
                failure: Exception = TimeoutError(f"no answer within {self.policy.timeout:g} s")
            except (ProviderFailure, BadGateway) as exc:
                failure = exc
            except CityHubError:
                # The provider answered by its own rules (no such account, not yours): healthy.
                self._succeeded(operation, "refused", started)
                raise
            except asyncio.CancelledError:
                self.breaker.abandoned()
                raise
            else:
                self._succeeded(operation, "ok", started)
                return result
            self._failed(operation, failure, started)
            if isinstance(failure, BadGateway):
                raise failure  # a malformed answer is not made right by asking again
            if number + 1 < tries and self.breaker.state == BreakerState.CLOSED:
                ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2**number)
                await asyncio.sleep(self.rng.uniform(0, ceiling))  # full jitter
                continue
            break
        code = "provider_timeout" if isinstance(failure, TimeoutError) else "provider_unavailable"
        raise self._unavailable(f"{self.provider} did not answer: {failure}", code)

    def _succeeded(self, operation: str, outcome: str, started: float) -> None:
        self.breaker.succeeded()
        metrics.CONNECTOR_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        self._count(operation, outcome)

    def _failed(self, operation: str, failure: Exception, started: float) -> None:
        self.breaker.failed()
        self.last_error = f"{type(failure).__name__}: {failure}"[:200]
        metrics.CONNECTOR_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        self._count(operation, "failed")

    def _count(self, operation: str, outcome: str) -> None:
        metrics.CONNECTOR_CALLS.labels(self.name, operation, outcome).inc()
        self.publish()


def guard_name(city_id: int, service_code: str) -> str:
    """The name of a service's guard: `{city_id}/{service code}`."""
    return f"{city_id}/{service_code}"


def description_guard_name(city_id: int, definition: str) -> str:
    """The name of the guard of a description tried on its own (`connectors test`)."""
    return f"{city_id}/connector:{definition}"


class Guards:
    """Every guard in this process by name, made on first use."""

    def __init__(self) -> None:
        self._guards: dict[str, Guard] = {}

    def get(self, name: str, policy: Policy, *, provider: str) -> Guard:
        """The named guard, made with `policy` on first use and adopting `policy` when it
        changed since (the service's settings are read at every call)."""
        guard = self._guards.get(name)
        if guard is None:
            guard = self._guards[name] = Guard.create(provider, policy, name=name)
        elif guard.policy != policy:
            guard.adopt(policy)
        guard.provider = provider
        return guard

    def find(self, name: str) -> Guard | None:
        """The named guard if it was used."""
        return self._guards.get(name)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every guard's state, by name."""
        return {name: g.snapshot() for name, g in sorted(self._guards.items())}

    def publish(self) -> None:
        """Refresh every gauge (open turns half-open with time alone)."""
        for guard in self._guards.values():
            guard.publish()
