"""Booking attempts per second through the hub, against the fixed floor of an attempt.

On two fresh PostgreSQL databases of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created,
then dropped):

1. the hub's: a city, a hospital granted to a channel, 10 popular sessions of 4 slots of 25
   places (40 slots, 1,000 places: the floor's shape), sessions to warm up and count on, and
   one verified patient per attempt;
2. counted on the wire: `cityhub serve` with its database connections through a counting
   proxy, one client making 20 attempts that book and 20 on a full slot -> round trips,
   statements and commits per booked and per sold-out attempt, and for the run's mix;
3. timed: `cityhub serve` straight on PostgreSQL and `--clients` wrk clients (one connection
   each) racing `--attempts` attempts by distinct patients at random slots of the popular
   sessions (`POST .../appointments/bookings` with an Idempotency-Key) -> attempts/s (those
   answered 201 or 409: an error is not an answer), p50/p99, CPU of the hub and of its
   backends per attempt; bookings must equal places;
4. the reference's: `book_take.sql` (on `pay_schema.sql`, `book_schema.sql`, `book_reset.sql`)
   by pgbench with as many clients and about as many attempts, before and after the hub's run;
   the higher rate is the reference.

The last line is one JSON object: value = the hub's attempts/s, reference = pgbench's,
ratio = value / reference, target 0.12 (higher is better); p99 should stay under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
from pathlib import Path
from typing import Any

from support import fresh_databases, load_average, loadgen, reference, report
from support import hub as hub_module
from support.appointments import (
    COUNT,
    COUNTING_USERS,
    Clinic,
    attempts,
    count_floor,
    count_hub,
    outcome,
    prepare,
)
from support.hub import Hub

TARGET = 0.12
P99_TARGET_MS = 100.0
SESSIONS, SLOTS, PLACES = 10, 4, 25
WARM = 160  # attempts while warming up: 80 book, 80 find the slot full


def deal(users: list[str], slots: list[str], clients: int) -> list[list[tuple[str, str, str]]]:
    """One attempt per user at a random slot, dealt to the clients in turn."""
    rng = random.Random(7)
    plans: list[list[tuple[str, str, str]]] = [[] for _ in range(clients)]
    for n, user in enumerate(users):
        plans[n % clients].append((user, rng.choice(slots), f"bk-{user}"))
    return plans


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every run of the bench, on its two fresh databases."""
    # The fixed floors of ../shared/bench/ (or $CITYHUB_BENCH_REFERENCES), never the hub's SQL.
    take, reset = reference.script("book_take.sql"), reference.script("book_reset.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    clinics = [Clinic("counting", [100, 1]), Clinic("warm-up", [WARM // 2])]
    clinics += [Clinic(f"dept-{n}", [PLACES] * SLOTS) for n in range(SESSIONS)]
    names = [f"cityhub_bench_book_{os.getpid()}", f"cityhub_bench_book_ref_{os.getpid()}"]
    per_client = -(-args.attempts // args.clients)
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, clinics, COUNTING_USERS + WARM + args.attempts))
        booked, sold_out = count_hub(url, folder, world, 0)
        reference.load(ref_url, *schemas)
        floor = count_floor(ref_url, take, folder)
        ref_before = reference.pgbench(ref_url, take, args.clients, transactions=per_client)
        users = world.users[COUNTING_USERS:]
        popular = [s for slots in world.slots[2:] for s in slots]
        plans = deal(users[WARM : WARM + args.attempts], popular, args.clients)
        with Hub(url, folder, workers=args.workers) as hub:
            token = hub.token(world.client_id, world.secret)
            attempts(
                hub, folder / "warm", world, token, deal(users[:WARM], world.slots[1], args.clients)
            )
            spent = hub_module.timed(
                hub, names[0], lambda: attempts(hub, folder / "run", world, token, plans)
            )
        reference.load(ref_url, reset)
        ref_after = reference.pgbench(ref_url, take, args.clients, transactions=per_client)
        left = asyncio.run(outcome(url))
    return {
        "take": take, "booked": booked, "sold_out": sold_out, "floor": floor, "spent": spent,
        "refs": (ref_before, ref_after), "left": left, "popular": popular,
        "per_client": per_client,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="hub processes (cityhub serve --workers)",
    )
    parser.add_argument("--attempts", type=int, default=5000)
    args = parser.parse_args()
    started_load = load_average()
    m = measure(args, Path(tempfile.mkdtemp(prefix="cityhub-bench-book-")))
    run: loadgen.Run = m["spent"].result
    left, places = m["left"], SESSIONS * SLOTS * PLACES
    made = len(run.records)
    if made < args.attempts:
        print(
            f"warning: the clients reached the time limit after {made} of {args.attempts} attempts"
        )
    value = len(loadgen.served(run.records)) / run.elapsed  # attempts answered 201 or 409
    ref = max(m["refs"], key=lambda r: r.per_second)
    answers = loadgen.statuses(run.records)
    won = answers.get("201", 0)
    taken = sum(left.slots[s][1] for s in m["popular"])
    share = won / max(made, 1)
    p99 = loadgen.latency_ms(run.records, 0.99)
    report.machine(started_load)
    print(f"{made} attempts by {args.clients} clients ({args.workers} hub process(es)) for "
          f"{places} places in {run.elapsed:.1f} s: {answers}; "
          f"wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} attempts/s, {won / run.elapsed:.1f} bookings/s; p50 "
          f"{loadgen.latency_ms(run.records, 0.5):.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    for when, r in zip(("before the hub's run", "after the hub's run"), m["refs"], strict=True):
        print(r.line("attempts/s", when, m["take"].name, f" x {m['per_client']}"))
    booked, sold_out = m["booked"].per(COUNT), m["sold_out"].per(COUNT)
    report.costs("attempt", {
        "hub booked": booked, "hub sold out": sold_out,
        "hub, run's mix": report.blend([(booked, share), (sold_out, 1 - share)]),
        "floor booked": m["floor"][0].per(COUNT), "floor sold out": m["floor"][1].per(COUNT),
    })  # fmt: skip
    report.per_operation(
        "attempt", made, m["spent"].hub_cpu, m["spent"].server_cpu, run.client_cpu, ref.cpu
    )
    report.load_generator(run.client_cpu, run.elapsed)
    print(f"not served (errors, shed, refused tokens): {made - len(loadgen.served(run.records))}")
    fine = won == taken <= places and not left.overbooked() and left.doubles == 0
    print(f"after: {won} answered booked, {taken} places taken of {places}, overbooked slots "
          f"{len(left.overbooked())}, doubles {left.doubles}: {'ok' if fine else 'WRONG'}; p99 "
          f"{p99:.0f} ms (target < {P99_TARGET_MS:.0f} ms: "
          f"{'met' if p99 < P99_TARGET_MS else 'not met'})")  # fmt: skip
    report.result({
        "name": "booking_attempts_per_second", "value": value, "unit": "attempts/s",
        "reference": ref.per_second, "ratio": value / ref.per_second, "target": TARGET,
        "higher_is_better": True, "reference_script": reference.label(m["take"]),
    })  # fmt: skip
    if not fine:
        raise SystemExit("the bookings do not add up: answers, places taken and slots differ")


if __name__ == "__main__":
    main()
