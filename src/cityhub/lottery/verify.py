"""Recompute a draw from its published files alone (no database) and say where it differs.

`read.load(paths)` reads any mix of the published files (publish.py), `verify(bundle)` checks
the commitment, the applicant list's hash, the seed, every score and the winners in order, and
`explain(results, application_id)` shows one applicant's tickets and scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cityhub.lottery import draw
from cityhub.lottery.publish import ApplicantList, Results
from cityhub.lottery.read import Bundle, FileError, load

__all__ = ["Bundle", "FileError", "Report", "explain", "load", "verify"]

NAMED = 5  # how many applicants a failure names before it says "and N more"


@dataclass
class Check:
    """One comparison between the files and the recipe."""

    name: str
    ok: bool
    message: str


@dataclass
class Report:
    """Every check made, in order."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether everything matched."""
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, message: str) -> None:
        """Record a check."""
        self.checks.append(Check(name, ok, message))

    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]


def _names(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:NAMED])
    return shown + (f" and {len(ids) - NAMED} more" if len(ids) > NAMED else "")


def hash_rows(ids: Sequence[str], tickets: Sequence[int]) -> str:
    """SHA-256 of the rows as they stand in a file (the canonical hash when they are sorted)."""
    digest = hashlib.sha256()
    for line in draw.canonical_lines(ids, tickets):
        digest.update(line)
    return digest.hexdigest()


def _order(report: Report, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    repeated = []
    for app_id in ids:
        if app_id in seen:
            repeated.append(app_id)
        seen.add(app_id)
    if repeated:
        report.add("applicant list", False, f"listed more than once: {_names(repeated)}")
        return
    for n in range(1, len(ids)):
        if ids[n] <= ids[n - 1]:
            report.add(
                "applicant list",
                False,
                f"not in canonical order: {ids[n]} comes after {ids[n - 1]} (row {n + 1})",
            )
            return


def _diff(
    report: Report, listing: ApplicantList, ids: Sequence[str], tickets: Sequence[int]
) -> None:
    """Name the applicants added, removed or with other ticket counts than at close."""
    before = dict(zip(listing.ids, listing.tickets, strict=True))
    after = dict(zip(ids, tickets, strict=True))
    added = [i for i in after if i not in before]
    removed = [i for i in before if i not in after]
    changed = [
        f"{i} ({before[i]} -> {after[i]})" for i in after if i in before and before[i] != after[i]
    ]
    if added:
        report.add("applicant list", False, f"applicant(s) added since close: {_names(added)}")
    if removed:
        report.add("applicant list", False, f"applicant(s) removed since close: {_names(removed)}")
    if changed:
        report.add("applicant list", False, f"ticket count changed since close: {_names(changed)}")


def _check_listing(report: Report, listing: ApplicantList, pinned_hash: str | None) -> None:
    computed = hash_rows(listing.ids, listing.tickets)
    if listing.info is None:  # a CSV list: only a hash given on the command line checks it
        if pinned_hash and computed != pinned_hash:
            report.add(
                "applicant list at close",
                False,
                f"list hash mismatch: the list hashes to {computed}, not {pinned_hash}",
            )
        elif pinned_hash:
            report.add(
                "applicant list at close", True, f"{len(listing.ids)} applicants, hash {computed}"
            )
        return
    if computed != listing.info.applicants_hash:
        report.add(
            "applicant list at close",
            False,
            f"list hash mismatch: the list hashes to {computed}, "
            f"the file says {listing.info.applicants_hash}",
        )
    elif pinned_hash and computed != pinned_hash:
        report.add("applicant list at close", False, f"list hash {computed} is not {pinned_hash}")
    else:
        report.add(
            "applicant list at close", True, f"{len(listing.ids)} applicants, hash {computed}"
        )


def verify(
    bundle: Bundle, *, commitment: str | None = None, applicants_hash: str | None = None
) -> Report:
    """Check every drawn round in the bundle (and the lists published at close) against the
    recipe; `commitment` and `applicants_hash`, when given, are the values published at
    opening and at close, which the files must carry."""
    report = Report()
    for listing in bundle.listings:
        _check_listing(report, listing, applicants_hash)
    if not bundle.results:
        if not report.checks:
            report.add(
                "files",
                False,
                "nothing to check: give results.json (or draw.csv and results.csv), or a "
                "list with its hash (applicants.json, or --applicants-hash)",
            )
        return report
    for results in bundle.results:
        reference = bundle.listings[0] if bundle.listings else None
        verify_results(report, results, reference, commitment, applicants_hash)
    return report


def verify_results(
    report: Report,
    results: Results,
    reference: ApplicantList | None,
    commitment: str | None,
    pinned_hash: str | None,
) -> None:
    """The checks of one drawn round, in the order a reader would make them."""
    info = results.info
    if reference is not None and reference.info is not None:
        commitment = commitment or reference.info.commitment
        pinned_hash = pinned_hash or reference.info.applicants_hash
    _check_commitment(report, results, commitment)
    _order(report, results.ids)
    seed = draw.seed_of(
        commitment=info.commitment,
        applicants_hash=info.applicants_hash,
        secret=results.secret,
        public_value=results.public_value,
    )
    scores = draw.Scorer(seed).best_scores(results.ids, results.tickets)
    hexes = [s.hex() for s in scores]
    altered = [i for i, a, b in zip(results.ids, hexes, results.scores, strict=True) if a != b]
    _check_applicant_list(report, results, reference, pinned_hash, altered)
    if seed.hex() != results.seed:
        report.add(
            "seed", False, f"seed mismatch: recomputed {seed.hex()}, published {results.seed}"
        )
    else:
        report.add("seed", True, f"seed {results.seed}")
    if altered:
        report.add("scores", False, f"score mismatch for {len(altered)}: {_names(altered)}")
    else:
        report.add("scores", True, f"{len(scores)} scores recomputed")
    ranked = draw.rank(scores, max(info.quota, 0), tickets=sum(results.tickets))
    _winners(report, results, ranked)


def _check_commitment(report: Report, results: Results, commitment: str | None) -> None:
    """The published secret hashes to the files' commitment, and that to the one published
    at opening (when it is given)."""
    info = results.info
    committed = draw.commitment_of(results.secret)
    if committed != info.commitment:
        report.add(
            "commitment",
            False,
            f"commitment mismatch: SHA-256 of the published secret is {committed}, the "
            f"commitment is {info.commitment} (the secret is not the one committed to)",
        )
    elif commitment and commitment != info.commitment:
        report.add(
            "commitment",
            False,
            f"commitment mismatch: the files say {info.commitment}, the commitment "
            f"published at opening is {commitment}",
        )
    else:
        report.add("commitment", True, "the secret hashes to the published commitment")


def _check_applicant_list(
    report: Report,
    results: Results,
    reference: ApplicantList | None,
    pinned_hash: str | None,
    altered: list[str],
) -> None:
    """The applicants and tickets hash to the published hash (and to the one published at
    close); if not, who was added, removed or changed, as far as the files tell."""
    info = results.info
    listed = hash_rows(results.ids, results.tickets)
    if listed == info.applicants_hash and pinned_hash in (None, info.applicants_hash):
        report.add("applicant list", True, f"{len(results.ids)} applicants, hash {listed}")
        return
    published = pinned_hash if pinned_hash not in (None, info.applicants_hash) else None
    detail = (
        f"the files say {info.applicants_hash}, the list published at close {published}"
        if published
        else f"the list hashes to {listed}, the published hash is {info.applicants_hash}"
    )
    report.add("applicant list", False, f"list hash mismatch: {detail}")
    if reference is not None:
        _diff(report, reference, results.ids, results.tickets)
    elif altered:
        report.add(
            "applicant list",
            False,
            f"tickets or score altered for: {_names(altered)} (their scores do not follow "
            "from their ticket counts)",
        )
    else:
        report.add(
            "applicant list",
            False,
            "give the list published at close (applicants.json or .csv) to name the "
            "applicants added, removed or changed",
        )


def _winners(report: Report, results: Results, ranked: list[int]) -> None:
    expected = [results.ids[p] for p in ranked]
    published = results.winners
    for n in range(max(len(expected), len(published))):
        mine = expected[n] if n < len(expected) else "nobody"
        theirs = published[n] if n < len(published) and published[n] else "nobody"
        if mine != theirs:
            report.add(
                "winners",
                False,
                f"winners mismatch at position {n + 1}: published {theirs}, recomputed {mine} "
                f"({len(published)} winners published, {len(expected)} recomputed)",
            )
            return
    report.add("winners", True, f"{len(expected)} winners, in the published order")


@dataclass
class Explanation:
    """One application's tickets and scores, recomputed from the files."""

    application_id: str
    tickets: list[str]
    best: str
    best_ticket: int
    rank: int
    applicants: int
    quota: int

    @property
    def won(self) -> bool:
        """Whether the applicant is among the winners."""
        return self.rank <= self.quota


def explain(results: Results, application_id: str) -> Explanation:
    """How one application scored (KeyError if it is not in the files)."""
    index = results.ids.index(application_id) if application_id in results.ids else -1
    if index < 0:
        raise KeyError(application_id)
    info = results.info
    seed = draw.seed_of(
        commitment=info.commitment,
        applicants_hash=info.applicants_hash,
        secret=results.secret,
        public_value=results.public_value,
    )
    scorer = draw.Scorer(seed)
    tickets = scorer.tickets(application_id, results.tickets[index])
    best = min(tickets)
    scores = scorer.best_scores(results.ids, results.tickets)
    mine = (best, application_id)
    ahead = sum(1 for s, i in zip(scores, results.ids, strict=True) if (s, i) < mine)
    return Explanation(
        application_id=application_id,
        tickets=[t.hex() for t in tickets],
        best=best.hex(),
        best_ticket=tickets.index(best),
        rank=ahead + 1,
        applicants=len(results.ids),
        quota=info.quota,
    )
