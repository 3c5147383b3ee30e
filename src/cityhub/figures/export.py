"""The open-data export of a city's published figures: one long table (CSV or Parquet) of
every published table's cells, and its data dictionary."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cityhub.figures.service import DIMS, Published
from cityhub.platform import csvsafe

ALL = "*"  # the table does not break the figures down by this dimension
DICTIONARY: list[dict[str, str]] = [
    {"name": "city", "type": "string", "description": "the city's slug"},
    {"name": "generated_at", "type": "timestamp (UTC)", "description": "when the hub counted"},
    {
        "name": "table",
        "type": "string",
        "description": "the dimensions this row's table groups by, joined by '+' ('total': "
        "none); a reader sums nothing: every margin is its own table",
    },
    {"name": "day", "type": "string", "description": "YYYY-MM-DD in the city's time, or '*'"},
    {
        "name": "pillar",
        "type": "string",
        "description": "payments | appointments | lottery | requests, or '*'",
    },
    {
        "name": "service",
        "type": "string",
        "description": "the catalogue service's code; empty for requests (they have a type, "
        "not a service); '*' when not broken down",
    },
    {
        "name": "channel",
        "type": "string",
        "description": "the channel's slug; empty for an Open311 report made without a "
        "channel; '*' when not broken down",
    },
    {
        "name": "district",
        "type": "string",
        "description": "the district a 311 request names; empty where none is recorded (the "
        "hub keeps no resident's address); '*' when not broken down",
    },
    {
        "name": "people",
        "type": "integer",
        "description": "distinct people (residents; a person linked across channels counts "
        "once); empty when suppressed",
    },
    {
        "name": "uses",
        "type": "integer",
        "description": "payments attempted, bookings made, lottery applications, requests "
        "filed; empty when suppressed",
    },
    {
        "name": "successes",
        "type": "integer",
        "description": "payments completed, bookings that got their place, applications not "
        "excluded, requests resolved or closed; empty when suppressed",
    },
    {
        "name": "fee_fen",
        "type": "integer",
        "description": "the hub's fees of completed payments, in fen; empty when suppressed",
    },
    {
        "name": "suppressed",
        "type": "boolean",
        "description": "true: fewer than the threshold of people, or suppressed so that it "
        "cannot be found by subtracting the published cells from a total",
    },
]
COLUMNS = [c["name"] for c in DICTIONARY]


def rows(published: Published) -> list[dict[str, Any]]:
    """One row per published cell, suppressed values left empty."""
    out = []
    for table in published.tables:
        name = "+".join(table.dims) or "total"
        for key, cell in sorted(table.cells.items(), key=lambda kv: repr(kv[0])):
            values = dict(zip(table.dims, key, strict=True))
            row: dict[str, Any] = {
                "city": published.city,
                "generated_at": published.generated_at,
                "table": name,
            }
            for dim in DIMS:
                value = values[dim] if dim in table.dims else ALL
                row[dim] = None if value is None else str(value)
            hide = cell.suppressed
            row |= {
                "people": None if hide else cell.people,
                "uses": None if hide else cell.uses,
                "successes": None if hide else cell.successes,
                "fee_fen": None if hide else cell.fee_fen,
                "suppressed": hide,
            }
            out.append(row)
    return out


def to_csv(published: Published) -> str:
    """The export as CSV (no cell a spreadsheet would run as a formula)."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(COLUMNS)
    for row in rows(published):
        writer.writerow(
            [
                row["generated_at"].isoformat() if c == "generated_at" else _cell(row[c])
                for c in COLUMNS
            ]
        )
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


SCHEMA = pa.schema(
    [
        ("city", pa.string()),
        ("generated_at", pa.timestamp("us", tz="UTC")),
        ("table", pa.string()),
        *((dim, pa.string()) for dim in DIMS),
        ("people", pa.int64()),
        ("uses", pa.int64()),
        ("successes", pa.int64()),
        ("fee_fen", pa.int64()),
        ("suppressed", pa.bool_()),
    ]
)


def to_parquet(published: Published) -> bytes:
    """The export as a Parquet file (pyarrow), columns typed as the dictionary says."""
    table = pa.Table.from_pylist(rows(published), schema=SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def dictionary(threshold: int) -> dict[str, Any]:
    """The data dictionary of the export, and the method that protects the people in it."""
    return {
        "columns": DICTIONARY,
        "method": {
            "kind": "small-cell suppression with complementary suppression",
            "threshold_people": threshold,
            "rule": f"a cell counting fewer than {threshold} distinct people is suppressed; "
            "then, in every group of cells that adds up to a published total, either no cell "
            "or at least two are suppressed",
            "noise": "none: published figures are exact or suppressed",
            "docs": "docs/figures.md",
        },
    }
