"""The resilience every connector gets: breaker, retries for idempotent calls, timeout, cap."""

from __future__ import annotations

import asyncio

import pytest

from cityhub.connectors.resilience import (
    BreakerState,
    CircuitBreaker,
    Guard,
    Policy,
    ProviderFailure,
    ProviderUnavailable,
)
from cityhub.platform.errors import BadGateway, NotFound


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_at_the_threshold_lets_one_trial_through_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, reset_after=30, clock=clock)
    for _ in range(2):
        assert breaker.admit()
        breaker.failed()
    assert breaker.state == BreakerState.CLOSED
    breaker.failed()
    assert breaker.state == BreakerState.OPEN and not breaker.admit()
    assert breaker.retry_after() == 30
    clock.now += 30
    assert breaker.state == BreakerState.HALF_OPEN
    assert breaker.admit() and not breaker.admit()  # one trial at a time
    breaker.failed()  # the trial failed: open again, for a full period
    assert breaker.state == BreakerState.OPEN and breaker.retry_after() == 30
    clock.now += 30
    assert breaker.admit()
    breaker.succeeded()
    assert breaker.state == BreakerState.CLOSED and breaker.failures == 0


def _guard(**policy: float) -> Guard:
    values = {"timeout": 1.0, "retries": 2, "backoff_base": 0.001, "failure_threshold": 10}
    return Guard.create("test/provider", Policy(**{**values, **policy}))  # type: ignore[arg-type]


class Flaky:
    """Fails `failures` times with a provider failure, then answers."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures, self.calls = failures, 0
        self.error = error or ProviderFailure("HTTP 500")

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "answer"


async def test_idempotent_calls_are_retried_and_others_are_not() -> None:
    guard = _guard()
    flaky = Flaky(failures=2)
    assert await guard.call("bills", flaky, idempotent=True) == "answer"
    assert flaky.calls == 3
    once = Flaky(failures=1)
    with pytest.raises(ProviderUnavailable) as caught:
        await guard.call("pay", once, idempotent=False)
    assert once.calls == 1 and caught.value.status == 503
    assert caught.value.headers["Retry-After"].isdigit()


async def test_a_provider_refusal_is_not_retried_nor_counted_and_a_bad_answer_is_502() -> None:
    guard = _guard()
    refused = Flaky(failures=5, error=NotFound("no such account"))
    with pytest.raises(NotFound):
        await guard.call("bills", refused, idempotent=True)
    assert refused.calls == 1 and guard.breaker.failures == 0
    garbled = Flaky(failures=5, error=BadGateway("not JSON"))
    with pytest.raises(BadGateway):
        await guard.call("bills", garbled, idempotent=True)
    assert garbled.calls == 1 and guard.breaker.failures == 1


async def test_a_call_slower_than_the_timeout_fails_as_a_timeout() -> None:
    guard = _guard(timeout=0.05, retries=0)
    never = asyncio.Event()
    with pytest.raises(ProviderUnavailable) as caught:
        await guard.call("bills", never.wait, idempotent=True)  # type: ignore[arg-type]
    assert caught.value.code == "provider_timeout"
    assert guard.snapshot()["last_error"].startswith("TimeoutError")


async def test_over_the_in_flight_cap_calls_fail_fast_without_reaching_the_provider() -> None:
    guard = _guard(max_in_flight=2)
    release = asyncio.Event()
    started = 0

    async def slow() -> str:
        nonlocal started
        started += 1
        await release.wait()
        return "done"

    holders = [asyncio.create_task(guard.call("bills", slow, idempotent=True)) for _ in range(2)]
    for _ in range(1000):  # until both holders are inside the provider call
        if started == 2:
            break
        await asyncio.sleep(0)
    assert guard.snapshot()["in_flight"] == 2
    with pytest.raises(ProviderUnavailable) as caught:
        await guard.call("bills", slow, idempotent=True)
    assert caught.value.code == "provider_busy" and started == 2
    release.set()
    assert await asyncio.gather(*holders) == ["done", "done"]
    assert guard.snapshot()["in_flight"] == 0


async def test_a_cancelled_trial_call_frees_the_half_open_breaker() -> None:
    guard = _guard(failure_threshold=1, retries=0, reset_after=0.0)
    with pytest.raises(ProviderUnavailable):
        await guard.call("bills", Flaky(failures=1), idempotent=True)
    assert guard.breaker.state == BreakerState.HALF_OPEN
    never = asyncio.Event()
    trial = asyncio.create_task(guard.call("bills", never.wait, idempotent=True))  # type: ignore[arg-type]
    for _ in range(1000):
        if guard.breaker.trial_running:
            break
        await asyncio.sleep(0)
    trial.cancel()
    with pytest.raises(asyncio.CancelledError):
        await trial
    assert await guard.call("bills", Flaky(failures=0), idempotent=True) == "answer"
    assert guard.breaker.state == BreakerState.CLOSED


async def test_once_open_the_breaker_refuses_at_once_and_retries_stop() -> None:
    guard = _guard(failure_threshold=2, retries=5, reset_after=60)
    failing = Flaky(failures=100)
    with pytest.raises(ProviderUnavailable):
        await guard.call("bills", failing, idempotent=True)
    assert failing.calls == 2  # retries stopped when the breaker opened
    with pytest.raises(ProviderUnavailable) as caught:
        await guard.call("bills", failing, idempotent=True)
    assert caught.value.code == "circuit_open" and failing.calls == 2
    assert guard.snapshot()["breaker"] == "open"
