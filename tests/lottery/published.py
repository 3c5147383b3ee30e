"""A drawn round as plain values and files, without a database, for verification tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cityhub.lottery import draw, publish

SECRET = "a secret the city kept since the round opened"
PUBLIC_VALUE = "SSE Composite 2025-12-01 close 3412.56"


def drawn_round(
    applicants: int = 20, quota: int = 5, public_value: str = PUBLIC_VALUE
) -> tuple[publish.ApplicantList, publish.Results]:
    """A round of `applicants` with 1 to 3 tickets, drawn with `SECRET` and `public_value`."""
    ids, tickets = draw.sort_applicants(
        (f"{n * 7919 % 10007:04x}{n:02d}", 1 + n % 3) for n in range(applicants)
    )
    info = publish.RoundInfo(
        city="shanghai",
        round="plates-2025-12",
        kind="car-plate",
        quota=quota,
        commitment=draw.commitment_of(SECRET),
        applicants_hash=draw.applicants_hash(ids, tickets),
    )
    outcome = draw.draw(
        ids,
        tickets,
        commitment=info.commitment,
        applicants_hash=info.applicants_hash,
        secret=SECRET,
        public_value=public_value,
        quota=quota,
    )
    listing = publish.ApplicantList(info=info, ids=ids, tickets=tickets)
    results = publish.Results(
        info=info,
        secret=SECRET,
        public_value=public_value,
        seed=outcome.seed.hex(),
        ids=list(ids),
        tickets=list(tickets),
        scores=[s.hex() for s in outcome.scores],
        winners=[ids[n] for n in outcome.winners],
    )
    return listing, results


def write_all(
    folder: Path, listing: publish.ApplicantList, results: publish.Results
) -> dict[str, Path]:
    """Every published file of the round, by name."""
    paths = {}
    for name in publish.FILE_NAMES:
        paths[name] = folder / name
        paths[name].write_text(publish.render(name, listing, results), encoding="utf-8")
    return paths


def edit_json(path: Path, change: Any) -> Path:
    """Apply `change(data)` to a JSON file and write it back."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
