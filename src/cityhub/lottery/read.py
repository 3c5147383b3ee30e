"""Read published lottery files back into plain values (no database)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityhub.lottery import draw
from cityhub.lottery.publish import (
    APPLICANTS_FORMAT,
    APPLICANTS_HEADER,
    DRAW_HEADER,
    RESULTS_FORMAT,
    RESULTS_HEADER,
    ApplicantList,
    Results,
    RoundInfo,
)
from cityhub.platform import csvsafe


class FileError(Exception):
    """A file that cannot be read as a published lottery file."""


@dataclass
class Bundle:
    """What the files hold: drawn rounds, and applicant lists published at close."""

    results: list[Results] = field(default_factory=list)
    listings: list[ApplicantList] = field(default_factory=list)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FileError(f"{where}: not a whole number: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise FileError(f"{where}: not a whole number: {value!r}") from None


def _tickets(value: Any, where: str) -> int:
    count = _int(value, f"{where}: tickets")
    if not 1 <= count <= draw.MAX_TICKETS:
        raise FileError(f"{where}: tickets must be 1 to {draw.MAX_TICKETS}, not {count}")
    return count


def _str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise FileError(f"{where}: {key} is missing or not text")
    return value


def _info(data: dict[str, Any], where: str) -> RoundInfo:
    return RoundInfo(
        city=_str(data, "city", where),
        round=_str(data, "round", where),
        kind=_str(data, "kind", where),
        quota=_int(data.get("quota"), f"{where}: quota"),
        commitment=_str(data, "commitment", where),
        applicants_hash=_str(data, "applicants_hash", where),
    )


def _app_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not draw.APPLICATION_ID.match(value):
        raise FileError(f"{where}: malformed application id {value!r}")
    return value


def _from_json(path: Path, data: Any) -> Results | ApplicantList:
    if not isinstance(data, dict) or not isinstance(data.get("applicants"), list):
        raise FileError(f"{path}: not a published lottery file (no applicants list)")
    kind = data.get("format")
    info = _info(data, str(path))
    ids, tickets, scores = [], [], []
    for n, row in enumerate(data["applicants"], start=1):
        where = f"{path}: applicant {n}"
        if not isinstance(row, dict):
            raise FileError(f"{where}: not an object")
        ids.append(_app_id(row.get("application_id"), where))
        tickets.append(_tickets(row.get("tickets"), where))
        if kind == RESULTS_FORMAT:
            scores.append(_str(row, "score", where))
    if kind == APPLICANTS_FORMAT:
        return ApplicantList(info=info, ids=ids, tickets=tickets)
    if kind != RESULTS_FORMAT:
        raise FileError(f"{path}: unknown format {kind!r}")
    winners = data.get("winners")
    if not isinstance(winners, list):
        raise FileError(f"{path}: winners is missing")
    by_position: dict[int, str] = {}
    for n, row in enumerate(winners, start=1):
        where = f"{path}: winner {n}"
        if not isinstance(row, dict):
            raise FileError(f"{where}: not an object")
        position = _int(row.get("position"), f"{where}: position")
        by_position[position] = _app_id(row.get("application_id"), where)
    return Results(
        info=info,
        secret=_str(data, "secret", str(path)),
        public_value=_str(data, "public_value", str(path)),
        seed=_str(data, "seed", str(path)),
        ids=ids,
        tickets=tickets,
        scores=scores,
        winners=_in_order(by_position, str(path), len(ids)),
    )


def _in_order(by_position: dict[int, str], where: str, applicants: int) -> list[str]:
    if any(not 1 <= p <= applicants for p in by_position):
        raise FileError(f"{where}: winner positions run from 1 to the number of applicants")
    top = max(by_position, default=0)
    # A missing position stays as "" so that the comparison names it.
    return [by_position.get(p, "") for p in range(1, top + 1)]


def _csv_rows(path: Path, rows: list[list[str]]) -> tuple[str, Any]:
    header, body = rows[0], rows[1:]
    if header == DRAW_HEADER:
        return "draw", {r[0]: r[1] for r in body if len(r) >= 2}
    if header not in (APPLICANTS_HEADER, RESULTS_HEADER):
        raise FileError(f"{path}: unknown CSV header {','.join(header)!r}")
    ids, tickets, scores, by_position = [], [], [], {}
    for n, row in enumerate(body, start=2):
        where = f"{path}: line {n}"
        if len(row) != len(header):
            raise FileError(f"{where}: {len(row)} fields, the header has {len(header)}")
        ids.append(_app_id(row[0], where))
        tickets.append(_tickets(row[1], where))
        if header == RESULTS_HEADER:
            scores.append(row[2])
            if row[3]:
                by_position[_int(row[3], f"{where}: position")] = row[0]
    if header == APPLICANTS_HEADER:
        return "list", (ids, tickets)
    return "results", (ids, tickets, scores, _in_order(by_position, str(path), len(ids)))


def load(paths: Sequence[Path]) -> Bundle:
    """Read the files: JSON files stand alone; `draw.csv` goes with a `results.csv`."""
    bundle = Bundle()
    draws: list[dict[str, str]] = []
    tables: list[tuple[list[str], list[int], list[str], list[str]]] = []
    for path in paths:
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                if path.suffix.lower() == ".json":
                    found = _from_json(path, json.load(handle))
                    if isinstance(found, Results):
                        bundle.results.append(found)
                    else:
                        bundle.listings.append(found)
                    continue
                # cells as the hub wrote them before neutralising formulas (`csvsafe`)
                rows = [[csvsafe.restore(c) for c in r] for r in csv.reader(handle)]
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
            raise FileError(f"{path}: {exc}") from None
        if not rows:
            raise FileError(f"{path}: empty")
        kind, value = _csv_rows(path, rows)
        if kind == "draw":
            draws.append(value)
        elif kind == "list":
            bundle.listings.append(ApplicantList(info=None, ids=value[0], tickets=value[1]))
        else:
            tables.append(value)
    if len(draws) != len(tables):
        raise FileError("give each draw.csv with its results.csv (one of each per round)")
    for params, (ids, tickets, scores, winners) in zip(draws, tables, strict=True):
        bundle.results.append(
            Results(
                info=_info(params, "draw.csv"),
                secret=_str(params, "secret", "draw.csv"),
                public_value=_str(params, "public_value", "draw.csv"),
                seed=_str(params, "seed", "draw.csv"),
                ids=ids,
                tickets=tickets,
                scores=scores,
                winners=winners,
            )
        )
    return bundle
