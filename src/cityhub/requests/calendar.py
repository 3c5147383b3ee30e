"""Working hours of a city: deadlines counted in working time, with holidays and make-up
working days, in the city's own time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cityhub.platform.errors import Unprocessable

MAX_DAYS = 3660  # a deadline further than ten years of calendar days is a mistake


@dataclass(frozen=True)
class Calendar:
    """Which days are worked and the working periods of such a day."""

    zone: ZoneInfo
    workdays: frozenset[int]  # ISO weekdays
    periods: tuple[tuple[dt.time, dt.time], ...]
    holidays: frozenset[dt.date]
    extra_workdays: frozenset[dt.date]

    @classmethod
    def of(
        cls,
        *,
        timezone: str,
        workdays: list[int],
        periods: list[list[str]],
        holidays: list[str],
        extra_workdays: list[str],
    ) -> Calendar:
        """A calendar from stored settings (422 naming the bad field)."""
        if not workdays or any(d not in range(1, 8) for d in workdays):
            raise Unprocessable("workdays are ISO weekdays 1 (Monday) to 7", field="workdays")
        spans: list[tuple[dt.time, dt.time]] = []
        for i, period in enumerate(periods):
            try:
                start, end = (dt.time.fromisoformat(p) for p in period)
            except (ValueError, TypeError):
                raise Unprocessable(
                    "a period is [start, end] as HH:MM", field=f"periods.{i}"
                ) from None
            if start >= end or (spans and start < spans[-1][1]):
                raise Unprocessable(
                    "periods run forwards, in order, without overlapping", field=f"periods.{i}"
                )
            spans.append((start, end))
        if not spans:
            raise Unprocessable("a working day needs at least one period", field="periods")
        return cls(
            zone=ZoneInfo(timezone),
            workdays=frozenset(workdays),
            periods=tuple(spans),
            holidays=frozenset(_dates(holidays, "holidays")),
            extra_workdays=frozenset(_dates(extra_workdays, "extra_workdays")),
        )

    def is_workday(self, day: dt.date) -> bool:
        """Whether the day is worked (a make-up day is; a holiday is not)."""
        if day in self.extra_workdays:
            return True
        return day.isoweekday() in self.workdays and day not in self.holidays

    def _spans(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        if not self.is_workday(day):
            return []
        return [
            (
                dt.datetime.combine(day, a, self.zone).astimezone(dt.UTC),
                dt.datetime.combine(day, b, self.zone).astimezone(dt.UTC),
            )
            for a, b in self.periods
        ]

    def add(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment `hours` working hours after `start` (UTC)."""
        left = dt.timedelta(hours=hours)
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_DAYS):
            for a, b in self._spans(day):
                begin = max(a, start)
                if begin >= b:
                    continue
                if begin + left <= b:
                    return begin + left
                left -= b - begin
            day += dt.timedelta(days=1)
        raise Unprocessable("the deadline is too far away", field="sla_hours")

    def between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """The working time between two moments (zero if `end` is not after `start`)."""
        total = dt.timedelta()
        if end <= start:
            return total
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            for a, b in self._spans(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return total


def _dates(values: list[str], field: str) -> list[dt.date]:
    found = []
    for i, value in enumerate(values):
        try:
            found.append(dt.date.fromisoformat(value))
        except (ValueError, TypeError):
            raise Unprocessable(
                f"{value!r} is not a date (YYYY-MM-DD)", field=f"{field}.{i}"
            ) from None
    return found
