"""The published files of a round, written from plain values (no database).

At close: the applicant list, `applicants.json` and `applicants.csv`. After the draw:
`results.json` (everything in one file), or the pair `draw.csv` (the draw's parameters as
key,value rows) and `results.csv` (one row per applicant). docs/lottery.md describes each
field; `verify` reads them back.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO

from cityhub.lottery.draw import VERSION
from cityhub.platform import csvsafe

APPLICANTS_FORMAT = "cityhub-lottery-applicants/1"
RESULTS_FORMAT = "cityhub-lottery-results/1"
APPLICANTS_HEADER = ["application_id", "tickets"]
RESULTS_HEADER = ["application_id", "tickets", "score", "position"]
DRAW_HEADER = ["key", "value"]
FILE_NAMES = ("applicants.json", "applicants.csv", "results.json", "draw.csv", "results.csv")


@dataclass
class RoundInfo:
    """What identifies a round and was published before its draw."""

    city: str
    round: str
    kind: str
    quota: int
    commitment: str
    applicants_hash: str


@dataclass
class ApplicantList:
    """The canonical applicant list published at close (ids sorted, tickets alongside);
    `info` is None when read from `applicants.csv`, which carries only the rows."""

    info: RoundInfo | None
    ids: list[str]
    tickets: list[int]


@dataclass
class Results:
    """A drawn round: the list, the revealed values, every score and the winners in order."""

    info: RoundInfo
    secret: str
    public_value: str
    seed: str
    ids: list[str]
    tickets: list[int]
    scores: list[str]  # hex, in list order
    winners: list[str] = field(default_factory=list)  # application ids, first winner first


def _info(info: RoundInfo) -> dict[str, object]:
    return {
        "city": info.city,
        "round": info.round,
        "kind": info.kind,
        "quota": info.quota,
        "commitment": info.commitment,
        "applicants_hash": info.applicants_hash,
    }


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def write_applicants_json(listing: ApplicantList, out: IO[str]) -> None:
    """The list published at close, as JSON (written row by row: it can be very long)."""
    if listing.info is None:
        raise ValueError("the JSON list needs the round's information")
    head = {"format": APPLICANTS_FORMAT, "recipe": VERSION, **_info(listing.info)}
    head["applicant_count"] = len(listing.ids)
    out.write(_dump(head)[:-1] + ', "applicants": [')
    for n, (app_id, count) in enumerate(zip(listing.ids, listing.tickets, strict=True)):
        out.write(("," if n else "") + f'\n{{"application_id": "{app_id}", "tickets": {count}}}')
    out.write("\n]}\n")


def write_applicants_csv(listing: ApplicantList, out: IO[str]) -> None:
    """The list published at close, as CSV."""
    writer = csvsafe.writer(out)
    writer.writerow(APPLICANTS_HEADER)
    writer.writerows(zip(listing.ids, listing.tickets, strict=True))


def _positions(results: Results) -> dict[str, int]:
    return {app_id: n for n, app_id in enumerate(results.winners, start=1)}


def write_results_json(results: Results, out: IO[str]) -> None:
    """Everything about a drawn round in one JSON file."""
    head: dict[str, object] = {"format": RESULTS_FORMAT, "recipe": VERSION}
    head.update(_info(results.info))
    head.update(
        secret=results.secret,
        public_value=results.public_value,
        seed=results.seed,
        applicant_count=len(results.ids),
    )
    winners = [
        {"position": n, "application_id": app_id}
        for n, app_id in enumerate(results.winners, start=1)
    ]
    head["winners"] = winners
    out.write(_dump(head)[:-1] + ', "applicants": [')
    rows = zip(results.ids, results.tickets, results.scores, strict=True)
    for n, (app_id, count, score) in enumerate(rows):
        out.write(
            ("," if n else "")
            + f'\n{{"application_id": "{app_id}", "tickets": {count}, "score": "{score}"}}'
        )
    out.write("\n]}\n")


def draw_rows(results: Results) -> list[tuple[str, str]]:
    """The draw's parameters as key,value rows (`draw.csv`)."""
    info = results.info
    return [
        ("format", RESULTS_FORMAT),
        ("recipe", VERSION),
        ("city", info.city),
        ("round", info.round),
        ("kind", info.kind),
        ("quota", str(info.quota)),
        ("commitment", info.commitment),
        ("applicants_hash", info.applicants_hash),
        ("secret", results.secret),
        ("public_value", results.public_value),
        ("seed", results.seed),
        ("applicant_count", str(len(results.ids))),
        ("winner_count", str(len(results.winners))),
    ]


def write_draw_csv(results: Results, out: IO[str]) -> None:
    """The draw's parameters as CSV."""
    writer = csvsafe.writer(out)
    writer.writerow(DRAW_HEADER)
    writer.writerows(draw_rows(results))


def write_results_csv(results: Results, out: IO[str]) -> None:
    """One row per applicant: tickets, score and, for winners, their position."""
    positions = _positions(results)
    writer = csvsafe.writer(out)
    writer.writerow(RESULTS_HEADER)
    for app_id, count, score in zip(results.ids, results.tickets, results.scores, strict=True):
        writer.writerow((app_id, count, score, positions.get(app_id, "")))


def write(name: str, listing: ApplicantList | None, results: Results | None, out: IO[str]) -> None:
    """Write one published file by name (`FILE_NAMES`); KeyError if it is not available."""
    if name == "applicants.json" and listing is not None:
        write_applicants_json(listing, out)
    elif name == "applicants.csv" and listing is not None:
        write_applicants_csv(listing, out)
    elif name == "results.json" and results is not None:
        write_results_json(results, out)
    elif name == "draw.csv" and results is not None:
        write_draw_csv(results, out)
    elif name == "results.csv" and results is not None:
        write_results_csv(results, out)
    else:
        raise KeyError(name)


def render(name: str, listing: ApplicantList | None, results: Results | None) -> str:
    """One published file's text by name, or KeyError if it is not available."""
    out = io.StringIO()
    write(name, listing, results, out)
    return out.getvalue()


def available(listing: ApplicantList | None, results: Results | None) -> Sequence[str]:
    """The names of the files that can be written now."""
    names = list(FILE_NAMES[:2]) if listing is not None else []
    return names + (list(FILE_NAMES[2:]) if results is not None else [])
