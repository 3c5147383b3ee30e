"""The mode a piece of work runs in: `live`, or `test` (the sandbox).

A channel's test credentials (`identity/sandbox.py`) make every request of their tokens run in
test mode: the bearer check sets it here, once, before any route code runs. What must differ
in the sandbox asks this one place: the connector hub builds only sandbox simulators
(`connectors/registry.py`), an outbox event written in test mode carries `"mode": "test"` and
the dispatcher runs its handlers in test mode again, and figures and counters leave it out.

The mode lives in a context variable, so it follows the request (or the outbox event) through
every await and never leaks into another request's task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

LIVE = "live"
TEST = "test"
MODES = (LIVE, TEST)
HEADER = "CityHub-Mode"
# Where the bearer check leaves the mode for the response header (`scope["state"]`).
STATE_KEY = "cityhub_mode"
# What a sandbox bill's id starts with: the biller's id, kept apart from the live one's row.
BILL_PREFIX = "sbx-"

_MODE: ContextVar[str] = ContextVar("cityhub_mode", default=LIVE)


def current() -> str:
    """The mode of the work running now (`live` unless something set `test`)."""
    return _MODE.get()


def is_test() -> bool:
    """Whether the work running now is the sandbox's."""
    return _MODE.get() == TEST


def use(mode: str) -> None:
    """Run the rest of this task (a request, an outbox handler) in `mode`."""
    _MODE.set(TEST if mode == TEST else LIVE)


@contextmanager
def using(mode: str) -> Iterator[None]:
    """Run the block in `mode`, then go back to the mode before it."""
    token = _MODE.set(TEST if mode == TEST else LIVE)
    try:
        yield
    finally:
        _MODE.reset(token)


def stamped(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload that carries the mode when it is the sandbox's (live payloads stay as
    they were)."""
    if is_test() and payload.get("mode") != TEST:
        return {**payload, "mode": TEST}
    return payload


def of_payload(payload: Mapping[str, Any]) -> str:
    """The mode an outbox event was written in."""
    return TEST if payload.get("mode") == TEST else LIVE
