"""A bound on how long a test may hang: what turns a call that would never return (a regular
expression backtracking for ever) into a failure, instead of a stuck suite. Not a measure of
speed: the tests it guards assert what the call answers."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hung(AssertionError):
    """The call did not return within the bound."""


@contextmanager
def bounded(seconds: float, what: str) -> Iterator[None]:
    """Fail with `Hung` if the block is still running after `seconds` (main thread only; the
    regular expression engine checks for signals as it runs)."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise Hung(f"{what} did not return within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
