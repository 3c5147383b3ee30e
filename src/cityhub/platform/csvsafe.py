"""CSV files for spreadsheets: no cell a spreadsheet would run as a formula.

OWASP's advice on CSV injection: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return is prefixed with a single quote, so the program shows it as text instead of
evaluating it (`=HYPERLINK(...)` in a payment detail or a staff-typed lottery value). Plain
numbers (`-1250`) are left alone: no spreadsheet runs them, and they stay numbers. A cell
already starting with a quote gets one more, so `restore` gives back exactly what was
written, and files the hub reads back (the lottery's published files) read the same.
Every CSV the hub writes goes through `writer`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def neutralise(value: Any) -> Any:
    """The cell as it is safe to write (non-strings, like ints, pass unchanged)."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith("'") or (value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def restore(cell: str) -> str:
    """What `neutralise` was given, from the cell it wrote."""
    if cell.startswith("'") and cell[1:2] and (cell[1] == "'" or cell[1:].startswith(TRIGGERS)):
        return cell[1:]
    return cell


class SafeWriter:
    """`csv.writer` whose every cell goes through `neutralise`."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row."""
        self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows."""
        for row in rows:
            self.writerow(row)


def writer(out: IO[str]) -> SafeWriter:
    """A CSV writer (`\\n` line ends) that neutralises formula cells."""
    return SafeWriter(out)
