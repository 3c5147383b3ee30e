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
   places), the 20,000 attempts shuffled and dealt to the clients -> attempts/s (those
   answered 201 or 409: an error or a shed request is not an answer), p50/p99, CPU per
   attempt;
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
from typing import Any

from support import admin, fresh_databases, load_average, loadgen, reference, report, server
from support import hub as hub_module
from support.appointments import (
    COUNT,
    COUNTING_USERS,
    Clinic,
    Outcome,
    attempts,
    count_floor,
    count_hub,
    outcome,
    prepare,
)
from support.hub import Hub

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


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every run of the bench, on its two fresh databases."""
    # The fixed floors of ../shared/bench/ (or $CITYHUB_BENCH_REFERENCES), never the hub's SQL.
    take, reset = reference.script("book_take.sql"), reference.script("book_reset.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    clinics = [Clinic("counting", [100, 1]), Clinic("warm-up", [WARM // 2])]
    clinics += [
        Clinic(f"dept-{d}", [PLACES] * SLOTS) for d in range(DEPARTMENTS) for _ in range(DOCTORS)
    ]
    names = [f"cityhub_bench_rush_{os.getpid()}", f"cityhub_bench_rush_ref_{os.getpid()}"]
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, clinics, COUNTING_USERS + WARM + args.patients))
        booked, sold_out = count_hub(url, folder, world, 0)
        reference.load(ref_url, *schemas)
        floor = count_floor(ref_url, take, folder)
        room = int(asyncio.run(admin(server(), reference.ROOM)))
        ref_clients = max(1, min(args.clients, room - HEADROOM))
        per_client = 2 * args.patients // ref_clients
        ref_before = reference.pgbench(ref_url, take, ref_clients, transactions=per_client)
        users = world.users[COUNTING_USERS:]
        warm = [[(u, world.slots[1][0], f"warm-{u}")] for u in users[:WARM]]
        plans = plan(world.slots[2:], users[WARM:], args.clients)
        with Hub(url, folder, workers=args.workers) as hub:
            token = hub.token(world.client_id, world.secret)
            attempts(hub, folder / "warm", world, token, warm)
            spent = hub_module.timed(
                hub, names[0], lambda: attempts(hub, folder / "rush", world, token, plans)
            )
        reference.load(ref_url, reset)
        ref_after = reference.pgbench(ref_url, take, ref_clients, transactions=per_client)
        left = asyncio.run(outcome(url))
    return {
        "take": take, "booked": booked, "sold_out": sold_out, "floor": floor, "spent": spent,
        "refs": (ref_before, ref_after), "left": left, "plans": plans, "world": world,
        "room": room, "ref_clients": ref_clients, "per_client": per_client,
    }  # fmt: skip


def check(m: dict[str, Any]) -> dict[str, int]:
    """The rush's fairness, from the answers and what the tables hold afterwards."""
    left: Outcome = m["left"]
    run: loadgen.Run = m["spent"].result
    rush = m["world"].slots[2:]
    department = {s: n // DOCTORS for n, clinic in enumerate(rush) for s in clinic}
    holds: dict[str, set[int]] = {}
    for user, slot in left.held:
        if slot in department:
            holds.setdefault(user, set()).add(department[slot])
    false_full, false_twice, lost = 0, 0, 0
    for client, records in run.by_client.items():
        # A client stopped at the time limit played only the first part of its plan.
        for (user, slot, _), answer in zip(m["plans"][client], records, strict=False):
            capacity, taken, _ = left.slots[slot]
            refused = answer.info if answer.status == 409 else ""
            false_full += refused == "slot_full" and taken < capacity
            false_twice += refused == "already_booked_that_day" and (
                department[slot] not in holds.get(user, set())
            )
            lost += answer.status == 201 and answer.info not in left.bookings
    return {
        "overbooked slots": len([s for s in left.overbooked() if s in department]),
        "patients with two places in one department on one day": left.doubles,
        "told sold out for a slot that ended with a free place": false_full,
        "told already booked that day, holding nothing there": false_twice,
        "answered booked, no such booking": lost,
        "slots whose taken count differs from their bookings": len(
            [s for s in left.mismatched() if s in department]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="hub processes (cityhub serve --workers)",
    )
    parser.add_argument("--patients", type=int, default=10_000, help="two attempts each")
    args = parser.parse_args()
    started_load = load_average()
    m = measure(args, Path(tempfile.mkdtemp(prefix="cityhub-bench-rush-")))
    run: loadgen.Run = m["spent"].result
    left: Outcome = m["left"]
    checks = check(m)
    rush_slots = [s for clinic in m["world"].slots[2:] for s in clinic]
    taken = sum(left.slots[s][1] for s in rush_slots)
    free = sum(left.slots[s][0] - left.slots[s][1] for s in rush_slots)
    made = len(run.records)
    planned = sum(len(p) for p in m["plans"])
    if made < planned:
        print(f"warning: the clients reached the time limit after {made} of {planned} attempts")
    value = len(loadgen.served(run.records)) / run.elapsed  # attempts answered 201 or 409
    ref = max(m["refs"], key=lambda r: r.per_second)
    answers = loadgen.statuses(run.records)
    share = answers.get("201", 0) / max(made, 1)
    report.machine(started_load)
    print(f"{made} attempts by {args.patients} patients from {args.clients} clients "
          f"({args.workers} hub process(es)) for "
          f"{len(rush_slots) * PLACES} places in {run.elapsed:.1f} s: {answers}; "
          f"wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} attempts/s; p50 {loadgen.latency_ms(run.records, 0.5):.1f} ms, "
          f"p99 {loadgen.latency_ms(run.records, 0.99):.1f} ms")  # fmt: skip
    if m["ref_clients"] < args.clients:
        print(f"reference: the server takes {m['room']} more connections (max_connections): "
              f"pgbench ran {m['ref_clients']} clients, not {args.clients}, "
              f"leaving {HEADROOM} to others")  # fmt: skip
    for when, r in zip(("before the rush", "after the rush"), m["refs"], strict=True):
        print(r.line("attempts/s", when, m["take"].name, f" x {m['per_client']}"))
    booked, sold_out = m["booked"].per(COUNT), m["sold_out"].per(COUNT)
    report.costs("attempt", {
        "hub booked": booked, "hub sold out": sold_out,
        "hub, rush's mix": report.blend([(booked, share), (sold_out, 1 - share)]),
        "floor booked": m["floor"][0].per(COUNT), "floor sold out": m["floor"][1].per(COUNT),
    })  # fmt: skip
    report.per_operation(
        "attempt", made, m["spent"].hub_cpu, m["spent"].server_cpu, run.client_cpu, ref.cpu
    )
    report.load_generator(run.client_cpu, run.elapsed)
    print(f"not served (errors, shed, refused tokens): {made - len(loadgen.served(run.records))}")
    print(f"after: {taken} places taken, {free} left free; "
          + "; ".join(f"{k}: {v}" for k, v in checks.items()))  # fmt: skip
    report.result({
        "name": "booking_rush_attempts_per_second", "value": value, "unit": "attempts/s",
        "reference": ref.per_second, "ratio": value / ref.per_second, "target": TARGET,
        "higher_is_better": True, "reference_script": reference.label(m["take"]),
    })  # fmt: skip
    if any(checks.values()):
        raise SystemExit("the rush was not fair: " + ", ".join(k for k, v in checks.items() if v))


if __name__ == "__main__":
    main()
