"""How every bench prints what it measured: the machine, the cost of one operation on the hub
and on its reference, then one JSON line last."""

from __future__ import annotations

import json
import os
from typing import Any

from support import load_average

ROWS = (
    ("round trips", "round_trips"),
    ("statements", "statements"),
    ("commits", "commits"),
    ("  of which wrote", "writing_commits"),
    ("rollbacks", "rollbacks"),
    ("empty queries (ping)", "empty_queries"),
)


def load_generator(client_cpu: float, elapsed: float) -> None:
    print(f"load generator: wrk used {100 * client_cpu / max(elapsed, 1e-9):.0f}% of a core")


def machine(started_load: str) -> None:
    print(f"machine: {os.cpu_count()} CPUs; load average {started_load} at the start, "
          f"{load_average()} at the end")  # fmt: skip


def costs(operation: str, columns: dict[str, dict[str, float]]) -> None:
    """A table of what one operation costs on the wire, one column per kind of operation
    (each a `Counts.per(n)`, or a `blend` of them)."""
    title = f"per {operation} (counted on the wire):"
    width = max(30, len(title) + 1)
    print(title.ljust(width) + "".join(f"{n:>17}" for n in columns))
    for name, attribute in ROWS:
        cells = [column[attribute] for column in columns.values()]
        print(f"  {name}".ljust(width) + "".join(f"{v:>17.2f}" for v in cells))


def blend(parts: list[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Per-operation costs of a mix: each part's costs weighted by its share of the operations."""
    total = sum(share for _, share in parts) or 1.0
    return {k: sum(p[k] * share for p, share in parts) / total for k in parts[0][0]}


def per_operation(
    operation: str,
    operations: int,
    hub_cpu: float,
    server_cpu: float | None,
    client_cpu: float,
    reference: tuple[float | None, int] | None = None,
) -> None:
    """CPU ms per operation of the hub, its backends, the reference's backends and wrk."""
    n = max(operations, 1)
    figures: dict[str, float | None] = {
        "hub processes": 1000 * hub_cpu / n,
        "hub's PostgreSQL backends": None if server_cpu is None else 1000 * server_cpu / n,
    }
    if reference is not None:
        seconds, runs = reference
        figures["reference's PostgreSQL backends"] = (
            None if seconds is None else 1000 * seconds / max(runs, 1)
        )
    figures["wrk"] = 1000 * client_cpu / n
    cpu(operation, figures)


def cpu(operation: str, figures: dict[str, float | None]) -> None:
    """CPU milliseconds per operation: name -> ms (None: not measured here)."""
    parts = [f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in figures.items()]
    print(f"CPU ms per {operation}: " + "; ".join(parts))


FIELDS = (
    "name", "value", "unit", "reference", "ratio", "target", "higher_is_better",
    "reference_script",
)  # fmt: skip


def result(line: dict[str, Any]) -> None:
    """The last line: the one JSON object every bench ends with, as the bench writes it
    (exactly these fields; figures rounded for reading)."""
    if set(line) != set(FIELDS):
        raise ValueError(f"a bench's result line has the fields {FIELDS}, not {sorted(line)}")
    rounded = {"value": round(line["value"], 3), "reference": round(line["reference"], 3)}
    ordered = {k: line[k] for k in FIELDS} | rounded | {"ratio": round(line["ratio"], 4)}
    print(json.dumps(ordered))
