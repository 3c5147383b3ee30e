"""A hospital's release of appointments: 2,000 places at once, 20,000 attempts from 200
concurrent clients by 10,000 distinct patients, checked for fairness, against the floor.

On two fresh PostgreSQL databases of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created,
then dropped):

1. the hub's: a city, a hospital granted to a channel, 4 departments of 2 doctors' sessions of
   10 slots of 25 places (2,000 places), all open, and the patients;
2. counted on the wire, as in `booking.py`: a booked and a sold-out attempt;
3. the rush: `cityhub serve` straight on PostgreSQL and 200 wrk clients (one connection each)
   starting at once; each patient makes two attempts (the second in the same department half
   of the time), at early slots more than late ones (some late slots are left with free
   places), the 20,000 attempts shuffled and dealt to the clients -> attempts/s, p50/p99, CPU
   per attempt;
4. the checks, from the answers and the tables: no slot overbooked, no patient with two places
   in one department on one day, no attempt told "sold out" (`slot_full`) for a slot that
   ended with a free place, no attempt told "already booked that day" by a patient who holds
   nothing there, and every "booked" answer a booking that stands;
5. the reference's: `book_take.sql` by pgbench at 200 clients (or as many as the server's
   `max_connections` leaves room for, then said so: fewer clients contend less, so the floor
   can only be higher, never flattering), 100 attempts each, before and after the rush; the
   higher rate is the reference.

The last line is one JSON object: value = the hub's attempts/s, reference = pgbench's,
ratio = value / reference, target 0.1 (higher is better). Exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
from pathlib import Path

from support import admin, fresh_databases, load_average, loadgen, reference, report, server
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

TARGET = 0.1
DEPARTMENTS, DOCTORS, SLOTS, PLACES = 4, 2, 10, 25
WARM = 200
HEADROOM = 30  # connections left to the other users of a shared server


def plan(
    world_slots: list[list[str]], users: list[str], clients: int, seed: int = 2025
) -> list[list[tuple[str, str, str]]]:
    """Two attempts per patient, shuffled and dealt to the clients."""
    rng = random.Random(seed)
    weights = [1 / (k + 1) ** 2 for k in range(SLOTS)]  # early slots are wanted most
    by_department = [world_slots[d * DOCTORS : (d + 1) * DOCTORS] for d in range(DEPARTMENTS)]

    def slot_in(department: int) -> str:
        session = rng.choice(by_department[department])
        return rng.choices(session, weights)[0]

    tries = []
    for user in users:
        first = rng.randrange(DEPARTMENTS)
        second = (
            first
            if rng.random() < 0.5
            else rng.choice([d for d in range(DEPARTMENTS) if d != first])
        )
        tries += [(user, slot_in(first)), (user, slot_in(second))]
    rng.shuffle(tries)
    plans: list[list[tuple[str, str, str]]] = [[] for _ in range(clients)]
    for n, (user, slot) in enumerate(tries):
        plans[n % clients].append((user, slot, f"rush-{n}"))
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--patients", type=int, default=10_000, help="two attempts each")
    args = parser.parse_args()
    started_load = load_average()
    take = reference.script("book_take.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    reset = reference.script("book_reset.sql")
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-rush-"))
    places = DEPARTMENTS * DOCTORS * SLOTS * PLACES
    clinics = [Clinic("counting", [100, 1]), Clinic("warm-up", [WARM // 2])]
    clinics += [
        Clinic(f"dept-{d}", [PLACES] * SLOTS) for d in range(DEPARTMENTS) for _ in range(DOCTORS)
    ]
    names = [f"cityhub_bench_rush_{os.getpid()}", f"cityhub_bench_rush_ref_{os.getpid()}"]
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, clinics, COUNTING_USERS + WARM + args.patients))
        booked, sold_out = count_hub(url, folder, world, 0)

        reference.load(ref_url, *schemas)
        floor_booked, floor_sold_out = count_floor(ref_url, take, folder)
        room = int(asyncio.run(admin(server(), reference.ROOM)))
        ref_clients = max(1, min(args.clients, room - HEADROOM))
        per_client = 2 * args.patients // ref_clients
        ref_before = reference.pgbench(ref_url, take, ref_clients, transactions=per_client)

        users = world.users[COUNTING_USERS:]
        warm = [[(u, world.slots[1][0], f"warm-{u}")] for u in users[:WARM]]
        plans = plan(world.slots[2:], users[WARM:], args.clients)
        with Hub(url, folder) as hub:
            token = hub.token(world.client_id, world.secret)
            attempts(hub, folder / "warm", world, token, warm)
            cpu_before = hub.cpu()
            with ServerCpu(names[0]) as server_cpu:
                run = attempts(hub, folder / "rush", world, token, plans)
            hub_cpu = hub.cpu() - cpu_before
        reference.load(ref_url, reset)
        ref_after = reference.pgbench(ref_url, take, ref_clients, transactions=per_client)
        left = asyncio.run(outcome(url))

    rush_slots = {s for clinic in world.slots[2:] for s in clinic}
    slot_department = {s: n // DOCTORS for n, clinic in enumerate(world.slots[2:]) for s in clinic}
    false_full, false_twice, lost = 0, 0, 0
    for client, records in run.by_client.items():
        for (user, slot, _), answer in zip(plans[client], records, strict=True):
            capacity, taken, _ = left.slots[slot]
            if answer.status == 409 and answer.info == "slot_full" and taken < capacity:
                false_full += 1
            if answer.status == 409 and answer.info == "already_booked_that_day":
                mine = {slot_department[s] for u, s in left.held if u == user and s in rush_slots}
                false_twice += slot_department[slot] not in mine
            if answer.status == 201 and answer.info not in left.bookings:
                lost += 1
    overbooked = [s for s in left.overbooked() if s in rush_slots]
    taken = sum(left.slots[s][1] for s in rush_slots)
    free = sum(left.slots[s][0] - left.slots[s][1] for s in rush_slots)
    made = len(run.records)
    value = made / run.elapsed
    ref = max(ref_before, ref_after, key=lambda r: r.per_second)
    answers = loadgen.statuses(run.records)
    share = answers.get("201", 0) / max(made, 1)
    report.machine(started_load)
    print(f"{made} attempts by {args.patients} patients from {args.clients} clients for {places} "
          f"places in {run.elapsed:.1f} s: {answers}; "
          f"wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} attempts/s; p50 {loadgen.latency_ms(run.records, 0.5):.1f} ms, "
          f"p99 {loadgen.latency_ms(run.records, 0.99):.1f} ms")  # fmt: skip
    if ref_clients < args.clients:
        print(f"reference: the server takes {room} more connections (max_connections): pgbench "
              f"ran {ref_clients} clients, not {args.clients}, "
              f"leaving {HEADROOM} to others")  # fmt: skip
    for when, r in (("before", ref_before), ("after", ref_after)):
        print(f"reference: {r.per_second:.1f} attempts/s {when} the rush ({take.name}, pgbench "
              f"-c {r.clients} x {per_client}); p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms; "
              f"{r.failed} failed")  # fmt: skip
    report.costs("attempt", {
        "hub booked": booked.per(20), "hub sold out": sold_out.per(20),
        "hub, rush's mix": report.blend([(booked.per(20), share), (sold_out.per(20), 1 - share)]),
        "floor booked": floor_booked.per(20), "floor sold out": floor_sold_out.per(20),
    })  # fmt: skip
    report.cpu("attempt", {
        "hub processes": 1000 * hub_cpu / max(made, 1),
        "hub's PostgreSQL backends": 1000 * server_cpu.seconds / max(made, 1)
        if server_cpu.seen else None,
        "reference's PostgreSQL backends": 1000 * ref.server_cpu / max(ref.runs, 1)
        if ref.server_seen else None,
        "wrk": 1000 * run.client_cpu / max(made, 1),
    })  # fmt: skip
    print(
        f"load generator: wrk used {100 * run.client_cpu / max(run.elapsed, 1e-9):.0f}% of a core"
    )
    checks = {
        "overbooked slots": len(overbooked),
        "patients with two places in one department on one day": left.doubles,
        "told sold out for a slot that ended with a free place": false_full,
        "told already booked that day, holding nothing there": false_twice,
        "answered booked, no such booking": lost,
        "slots whose taken count differs from their bookings": len(
            [s for s in left.mismatched() if s in rush_slots]
        ),
    }
    print(f"after: {taken} places taken, {free} left free; "
          + "; ".join(f"{k}: {v}" for k, v in checks.items()))  # fmt: skip
    report.result(
        "booking_rush_attempts_per_second", value, "attempts/s", ref.per_second, TARGET, True,
        reference.label(take),
    )  # fmt: skip
    if any(checks.values()):
        raise SystemExit("the rush was not fair: " + ", ".join(k for k, v in checks.items() if v))


if __name__ == "__main__":
    main()
