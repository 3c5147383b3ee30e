"""The hub's clock: the one source of "now" for services (`utcnow()`, `today_in()`) and the
connectors' breakers (`monotonic()`).

In production it is the system's clock. A test moves it (`clock.advance(minutes=5)`) instead of
rewriting timestamps in tables, and pins it (`clock.set(...)`) instead of depending on the hour
of the day in a city's timezone. It is per process: a worker or server started as a subprocess
keeps the real time.
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo


class Clock:
    """The system's clock, moved by an offset or pinned to a moment (tests only)."""

    def __init__(self) -> None:
        self._offset = dt.timedelta(0)
        self._pinned: dt.datetime | None = None
        self._pinned_monotonic = 0.0

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        if self._pinned is not None:
            return self._pinned + self._offset
        return dt.datetime.now(dt.UTC) + self._offset

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back (moved, and pinned, with `now`)."""
        start = self._pinned_monotonic if self._pinned is not None else time.monotonic()
        return start + self._offset.total_seconds()

    def advance(self, **delta: float) -> None:
        """Move the clock forward (`advance(minutes=5)`)."""
        self._offset += dt.timedelta(**delta)

    def set(self, moment: dt.datetime) -> None:
        """Pin the clock to a moment (timezone-aware); `advance` moves it from there."""
        if moment.tzinfo is None:
            raise ValueError("pin the clock to a timezone-aware moment")
        self._pinned, self._offset = moment.astimezone(dt.UTC), dt.timedelta(0)
        self._pinned_monotonic = time.monotonic()

    def reset(self) -> None:
        """Back to the system's clock."""
        self._offset, self._pinned = dt.timedelta(0), None


clock = Clock()


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (from the hub's clock)."""
    return clock.now()


def today_in(timezone: str) -> dt.date:
    """Today's date in a city's timezone (from the hub's clock)."""
    return clock.now().astimezone(ZoneInfo(timezone)).date()
