"""The draw of a round of 1,000,000 applicants with stepped multipliers and a quota of 10,000.

Measured in one process, on the pure recipe (cityhub.lottery.draw, no database):

- close: sort the applicants and hash the canonical list (reported, not the headline);
- value: the draw itself (seed, every ticket's HMAC-SHA256, best per applicant, the winners),
  the least CPU time of five runs;
- verify: `cityhub lottery verify` work on the published files, read from disk (results.json,
  and the draw.csv + results.csv pair): parse, list hash, seed, every score, the winners;
- peak memory: the process's maximum resident set size after the draw and the verifications;
- reference: the same number of HMAC-SHA256 computations over the same messages, built
  beforehand, in a plain loop, least of five, with the same pre-keyed SHA-256 states the draw
  uses (the fastest bare HMAC in Python here; `hmac.digest` is reported for comparison).

ratio = draw / reference: what the draw costs over bare hashing. Target 1.3, lower is better,
with the peak memory under 1 GB. No database is involved and the work is all CPU in one thread,
so every figure is the process's CPU time (`time.process_time`): on a machine shared with
other work, wall time measures the others, CPU time does not. Prints one JSON line last.
"""

from __future__ import annotations

import gc
import hmac
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from support import load_average, report

from cityhub.lottery import draw, publish, verify

APPLICANTS = 1_000_000
QUOTA = 10_000
TARGET = 1.3
MEMORY_TARGET_MB = 1024
RUNS = 5  # best of: the machine may be busy with other work
STEPS = ((0, 1), (6, 2), (12, 3))  # from this many failures on, this many tickets
SECRET = "bench secret: 5b0e6f2c9d8a47e1b3c6d9f0a2e4b6c8"
PUBLIC_VALUE = "SSE Composite close 3412.56"


def tickets_for(failures: int) -> int:
    count = 1
    for start, tickets in STEPS:
        if failures >= start:
            count = tickets
    return count


def applicants(seed: int = 2025) -> list[tuple[str, int]]:
    """A million applicants: hub-style ids, failures spread as in a long-running lottery."""
    rng = random.Random(seed)
    ids = {rng.getrandbits(64).to_bytes(8, "big").hex() for _ in range(APPLICANTS)}
    while len(ids) < APPLICANTS:
        ids.add(rng.getrandbits(64).to_bytes(8, "big").hex())
    return [(i, tickets_for(int(rng.expovariate(1 / 7)))) for i in ids]


def timed(work: object) -> float:
    assert callable(work)
    gc.collect()
    started = time.process_time()
    work()
    return time.process_time() - started


def peak_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def write_published(results: publish.Results, folder: Path) -> dict[str, Path]:
    """The round's published files, written to `folder`."""
    paths = {}
    for name in ("results.json", "draw.csv", "results.csv"):
        paths[name] = folder / name
        with paths[name].open("w", encoding="utf-8", newline="") as handle:
            publish.write(name, None, results, handle)
    return paths


def verify_published(paths: dict[str, Path]) -> dict[str, float]:
    """CPU seconds of `cityhub lottery verify`'s work on each published form, read from disk."""
    verify_seconds = {}
    for label, files in (
        ("json", [paths["results.json"]]),
        ("csv", [paths["draw.csv"], paths["results.csv"]]),
    ):
        reports: list[verify.Report] = []
        verify_seconds[label] = timed(
            lambda files=files, reports=reports: reports.append(verify.verify(verify.load(files)))
        )
        if not reports[0].ok:
            raise SystemExit(f"verification failed: {reports[0].failures()}")
        reports.clear()
    return verify_seconds


def bare_hmacs(
    ids: list[str], tickets: list[int], seed: bytes
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The reference (pre-keyed HMAC-SHA256 over every ticket's message, built beforehand) and
    the same HMACs with `hmac.digest`, for comparison."""
    scorer = draw.Scorer(seed)
    messages = [
        app_id.encode("ascii") + draw.ticket_index(index)
        for app_id, count in zip(ids, tickets, strict=True)
        for index in range(count)
    ]
    inner, outer = scorer._inner, scorer._outer

    def reference() -> None:
        for message in messages:
            h = inner.copy()
            h.update(message)
            o = outer.copy()
            o.update(h.digest())
            o.digest()

    def stdlib() -> None:
        digest = hmac.digest
        for message in messages:
            digest(seed, message, "sha256")

    return reference, stdlib


def main() -> None:
    started_load = load_average()
    pairs = applicants()
    started = time.process_time()
    ids, tickets = draw.sort_applicants(pairs)
    list_hash = draw.applicants_hash(ids, tickets)
    close_seconds = time.process_time() - started
    del pairs
    total_tickets = sum(tickets)
    commitment = draw.commitment_of(SECRET)

    outcome: list[draw.Draw] = []

    def run_draw() -> None:
        outcome.append(
            draw.draw(
                ids,
                tickets,
                commitment=commitment,
                applicants_hash=list_hash,
                secret=SECRET,
                public_value=PUBLIC_VALUE,
                quota=QUOTA,
            )
        )

    draw_seconds = [timed(run_draw)]
    result = outcome[-1]
    seed = result.seed
    info = publish.RoundInfo("bench", "plates", "car-plate", QUOTA, commitment, list_hash)
    results = publish.Results(
        info=info,
        secret=SECRET,
        public_value=PUBLIC_VALUE,
        seed=seed.hex(),
        ids=ids,
        tickets=tickets,
        scores=[s.hex() for s in result.scores],
        winners=[ids[n] for n in result.winners],
    )
    outcome.clear()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_published(results, Path(folder))
        del results  # verification works from the files alone, as `cityhub lottery verify` does
        verify_seconds = verify_published(paths)
    peak = peak_mb()

    reference, stdlib = bare_hmacs(ids, tickets, seed)
    reference_seconds = [timed(reference)]
    for _ in range(RUNS - 1):  # interleaved, so that a slow patch of the machine hits both
        draw_seconds.append(timed(run_draw))
        outcome.clear()
        reference_seconds.append(timed(reference))
    stdlib_seconds = timed(stdlib)

    value, ref = min(draw_seconds), min(reference_seconds)
    ratio = value / ref
    print(
        f"{APPLICANTS:,} applicants, {total_tickets:,} tickets, quota {QUOTA:,}\n"
        f"all figures are CPU seconds of this process\n"
        f"close (sort + list hash): {close_seconds:.2f} s\n"
        f"draw: {value:.2f} s (runs: {', '.join(f'{s:.2f}' for s in draw_seconds)})\n"
        f"reference, bare HMAC-SHA256 x {total_tickets:,} (pre-keyed states): {ref:.2f} s "
        f"(runs: {', '.join(f'{s:.2f}' for s in reference_seconds)}); "
        f"with hmac.digest: {stdlib_seconds:.2f} s\n"
        f"verify from files: results.json {verify_seconds['json']:.2f} s, "
        f"draw.csv + results.csv {verify_seconds['csv']:.2f} s\n"
        f"peak memory (max RSS after draw and verification): {peak:.0f} MB (target < "
        f"{MEMORY_TARGET_MB} MB: {'met' if peak < MEMORY_TARGET_MB else 'not met'})\n"
        f"CPU per 1,000 applicants: draw {1e6 * value / APPLICANTS:.2f} ms, reference "
        f"{1e6 * ref / APPLICANTS:.2f} ms (no database: no statements, commits or round trips)\n"
        f"ratio draw / reference: {ratio:.3f} (target {TARGET})",
    )
    report.machine(started_load)
    report.result({
        "name": "lottery_draw_1m", "value": value, "unit": "s", "reference": ref, "ratio": ratio,
        "target": TARGET, "higher_is_better": False,
        "reference_script": "bench/lottery.py: bare HMAC-SHA256 from pre-keyed states over the "
        "same tickets",
    })  # fmt: skip


if __name__ == "__main__":
    main()
