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
   sessions (`POST .../appointments/bookings` with an Idempotency-Key) -> attempts/s, p50/p99,
   CPU of the hub and of its backends per attempt; bookings must equal places;
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

from support import fresh_databases, load_average, loadgen, reference, report
from support.appointments import (
    COUNTING_USERS,
    Clinic,
    attempts,
    count_floor,
    count_hub,
    outcome,
    prepare,
)
from support.hub import Hub
from support.procstat import ServerCpu

TARGET = 0.12
P99_TARGET_MS = 100.0
SESSIONS, SLOTS, PLACES = 10, 4, 25
WARM = 160  # attempts while warming up: 80 book, 80 find the slot full


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--attempts", type=int, default=5000)
    args = parser.parse_args()
    started_load = load_average()
    take = reference.script("book_take.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    reset = reference.script("book_reset.sql")
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-book-"))
    places = SESSIONS * SLOTS * PLACES
    clinics = [Clinic("counting", [100, 1]), Clinic("warm-up", [WARM // 2])]
    clinics += [Clinic(f"dept-{n}", [PLACES] * SLOTS) for n in range(SESSIONS)]
    names = [f"cityhub_bench_book_{os.getpid()}", f"cityhub_bench_book_ref_{os.getpid()}"]
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, clinics, COUNTING_USERS + WARM + args.attempts))
        booked, sold_out = count_hub(url, folder, world, 0)

        reference.load(ref_url, *schemas)
        floor_booked, floor_sold_out = count_floor(ref_url, take, folder)
        per_client = -(-args.attempts // args.clients)
        ref_before = reference.pgbench(ref_url, take, args.clients, transactions=per_client)

        users = world.users[COUNTING_USERS:]
        warm_users, users = users[:WARM], users[WARM:]
        popular = [s for slots in world.slots[2:] for s in slots]
        rng = random.Random(7)
        plans: list[list[tuple[str, str, str]]] = [[] for _ in range(args.clients)]
        for n, user in enumerate(users[: args.attempts]):
            plans[n % args.clients].append((user, rng.choice(popular), f"bk-{user}"))
        warm_plans: list[list[tuple[str, str, str]]] = [[] for _ in range(args.clients)]
        for n, user in enumerate(warm_users):
            warm_plans[n % args.clients].append((user, world.slots[1][0], f"bk-{user}"))
        with Hub(url, folder) as hub:
            token = hub.token(world.client_id, world.secret)
            attempts(hub, folder / "warm", world, token, warm_plans)
            cpu_before = hub.cpu()
            with ServerCpu(names[0]) as server:
                run = attempts(hub, folder / "run", world, token, plans)
            hub_cpu = hub.cpu() - cpu_before
        reference.load(ref_url, reset)
        ref_after = reference.pgbench(ref_url, take, args.clients, transactions=per_client)
        left = asyncio.run(outcome(url))

    made = len(run.records)
    value = made / run.elapsed
    ref = max(ref_before, ref_after, key=lambda r: r.per_second)
    answers = loadgen.statuses(run.records)
    won = answers.get("201", 0)
    popular_left = {s: left.slots[s] for s in popular}
    taken = sum(t for _, t, _ in popular_left.values())
    share = won / max(made, 1)
    p99 = loadgen.latency_ms(run.records, 0.99)
    report.machine(started_load)
    print(f"{made} attempts by {args.clients} clients for {places} places in {run.elapsed:.1f} s: "
          f"{answers}; wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} attempts/s, {won / run.elapsed:.1f} bookings/s; p50 "
          f"{loadgen.latency_ms(run.records, 0.5):.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    for when, r in (("before", ref_before), ("after", ref_after)):
        print(f"reference: {r.per_second:.1f} attempts/s {when} the hub's run ({take.name}, "
              f"pgbench -c {r.clients} x {per_client}); p50 {r.p50_ms:.1f} ms, p99 "
              f"{r.p99_ms:.1f} ms; {r.failed} failed")  # fmt: skip
    report.costs("attempt", {
        "hub booked": booked.per(20), "hub sold out": sold_out.per(20),
        "hub, run's mix": report.blend([(booked.per(20), share), (sold_out.per(20), 1 - share)]),
        "floor booked": floor_booked.per(20), "floor sold out": floor_sold_out.per(20),
    })  # fmt: skip
    report.cpu("attempt", {
        "hub processes": 1000 * hub_cpu / max(made, 1),
        "hub's PostgreSQL backends": 1000 * server.seconds / max(made, 1) if server.seen else None,
        "reference's PostgreSQL backends": 1000 * ref.server_cpu / max(ref.runs, 1)
        if ref.server_seen else None,
        "wrk": 1000 * run.client_cpu / max(made, 1),
    })  # fmt: skip
    print(
        f"load generator: wrk used {100 * run.client_cpu / max(run.elapsed, 1e-9):.0f}% of a core"
    )
    fine = won == taken == places and not left.overbooked() and left.doubles == 0
    print(f"after: {won} answered booked, {taken} places taken of {places}, overbooked slots "
          f"{len(left.overbooked())}, doubles {left.doubles}: {'ok' if fine else 'WRONG'}; p99 "
          f"{p99:.0f} ms (target < {P99_TARGET_MS:.0f} ms: "
          f"{'met' if p99 < P99_TARGET_MS else 'not met'})")  # fmt: skip
    report.result(
        "booking_attempts_per_second", value, "attempts/s", ref.per_second, TARGET, True,
        reference.label(take),
    )  # fmt: skip
    if not fine:
        raise SystemExit("the bookings do not add up to the places")


if __name__ == "__main__":
    main()
