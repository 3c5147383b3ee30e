"""Bill payments per second through the hub, against the fixed floor of a payment.

On two fresh PostgreSQL databases of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created,
then dropped):

1. the hub's: a city, a channel granted a bill service, and `--bills` bills it was shown;
2. counted on the wire: `cityhub serve` with its database connections through a counting
   proxy (`support/pgwire.py`), one client paying `--count` bills one after another (after a
   warm-up) -> round trips, statements, commits per payment, whatever layer issued them;
3. timed: `cityhub serve` straight on PostgreSQL, driven over HTTP by `--clients` wrk clients
   (one connection each), each paying one bill after another for `--seconds`: `POST
   /payments` then `POST /payments/{id}/confirmation`, both with an Idempotency-Key ->
   payments/s, p50/p99 of a call and of a payment, CPU of the hub's processes and of its
   database backends per payment;
4. the reference's: `pay_schema.sql` (with the booking floor's tables, as its README loads
   them), then `pay_quote_confirm.sql` by pgbench with as many clients for as long, once
   before and once after the hub's run; the higher of the two rates is the reference (a
   quieter moment of a shared machine cannot flatter the hub).

The last line is one JSON object: value = the hub's payments/s, reference = pgbench's,
ratio = value / reference, target 0.25 (higher is better); the p99 of a call should stay
under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from support import fresh_databases, load_average, loadgen, percentile, reference, report
from support import hub as hub_module
from support.hub import Hub
from support.pgwire import Counts

from cityhub import migrations
from cityhub.billing import ledger
from cityhub.billing.models import Payment, PaymentStatus
from cityhub.cities.models import ServiceKind
from cityhub.platform.db import Database

TARGET = 0.25
P99_TARGET_MS = 100.0
AMOUNT = 7_777_777  # fen
WARM_PER_CLIENT = 200  # bills each client may pay while warming up


async def prepare(url: str, bills: int) -> dict[str, Any]:
    """Migrate, then a city, a channel granted a water service, and `bills` bills shown."""
    from tests.cities.factories import create_city, create_grant
    from tests.connectors.factories import connected_service
    from tests.identity.factories import SECRET, create_channel

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        service = await connected_service(
            db,
            city=city,
            code="water",
            connector="simulator:water",
            config={"provider_id": "bench-water"},
            kind=ServiceKind.BILL,
        )
        login = await create_channel(db, slug="bench-wallet")
        await create_grant(db, channel=login.channel, service=service)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO bills (city_id, service_id, account, bill_ref, period,"
                    " amount_fen, currency, status, fetched_at)"
                    " SELECT :city, :service, '1234567890', 'PB' || n, '2025-10', :amount,"
                    " 'CNY', 'unpaid', now() FROM generate_series(1, :bills) AS n"
                ),
                {"city": city.id, "service": service.id, "amount": AMOUNT, "bills": bills},
            )
        return {"client_id": login.client_id, "secret": SECRET}
    finally:
        await db.dispose()


async def check(url: str) -> tuple[ledger.LedgerReport, int]:
    """The ledger's own check, and how many payments were confirmed."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            found = await ledger.check(session=session)
            confirmed = await session.scalar(
                select(func.count()).where(Payment.status != PaymentStatus.QUOTED)
            )
        return found, int(confirmed or 0)
    finally:
        await db.dispose()


def payments_of(run: loadgen.Run) -> dict[int, list[tuple[float, float]]]:
    """(start, end) of each payment whose quote and confirmation both succeeded, per client."""
    done: dict[int, list[tuple[float, float]]] = {}
    for client, records in run.by_client.items():
        for quote, confirm in zip(records, records[1:], strict=False):
            if quote.kind == "quote" and confirm.kind == "confirm" and confirm.status == 200:
                done.setdefault(client, []).append((quote.start, confirm.end))
    return done


def steady_rate(done: dict[int, list[tuple[float, float]]], stop_at: float) -> tuple[float, float]:
    """Payments per second while every client was in its stride: from the moment the last
    client finished its first payment to the end of the run (the clients all start at once,
    so before that moment no payment can have finished yet; counting from the start would
    charge the hub for its own latency). Also the length of that window."""
    if not done:
        return 0.0, 0.0
    stride = max(payments[0][1] for payments in done.values())
    ended = [end for payments in done.values() for _, end in payments]
    window = stop_at - stride
    if window <= 0:  # shorter than one payment of the slowest client: the whole run, ramp and all
        started = min(start for payments in done.values() for start, _ in payments)
        return len(ended) / (max(ended) - started), 0.0
    return len([e for e in ended if stride < e <= stop_at]) / window, window


def count(url: str, folder: Path, world: dict[str, Any], options: dict[str, Any], n: int) -> Counts:
    """What `n` payments (bills PB21...) cost on the wire, one after another, after 20."""
    with hub_module.counted(url, folder) as (hub, proxy):
        options = {**options, "token": hub.token(world["client_id"], world["secret"])}
        loadgen.run(hub.base_url, "pay", 1, {**options, "first": 1, "last": 20})
        before = proxy.snapshot()
        loadgen.run(hub.base_url, "pay", 1, {**options, "first": 21, "last": 20 + n})
        spent = proxy.snapshot() - before
    spent.round_trips -= spent.connections
    return spent


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every run of the bench, on its two fresh databases."""
    # The fixed floors of ../shared/bench/ (or $CITYHUB_BENCH_REFERENCES), never the hub's SQL.
    floor = reference.script("pay_quote_confirm.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    names = [f"cityhub_bench_pay_{os.getpid()}", f"cityhub_bench_pay_ref_{os.getpid()}"]
    first = 21 + args.count + WARM_PER_CLIENT * args.clients  # the timed run's first bill
    if first + 100 * args.clients > args.bills:
        raise SystemExit(f"--bills {args.bills} is too few: the warm-up alone takes {first}")
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, args.bills))
        options: dict[str, Any] = {"city": "bench", "service": "water", "amount": AMOUNT}
        hub_counts = count(url, folder, world, options, args.count)
        reference.load(ref_url, *schemas)
        ref_counts = reference.counted(ref_url, floor, 20)
        ref_before = reference.pgbench(ref_url, floor, args.clients, seconds=args.seconds)
        with Hub(url, folder, workers=args.workers) as hub:
            options["token"] = hub.token(world["client_id"], world["secret"])
            warm = {**options, "first": 21 + args.count, "last": first - 1}
            loadgen.run(hub.base_url, "pay", args.clients, warm, seconds=3)
            plan = {**options, "first": first, "last": args.bills}
            spent = hub_module.timed(hub, names[0], lambda: loadgen.run(
                hub.base_url, "pay", args.clients, plan, seconds=args.seconds))  # fmt: skip
        ref_after = reference.pgbench(ref_url, floor, args.clients, seconds=args.seconds)
        books, confirmed = asyncio.run(check(url))
    return {
        "floor": floor, "hub_counts": hub_counts, "ref_counts": ref_counts, "spent": spent,
        "refs": (ref_before, ref_after), "books": books, "confirmed": confirmed,
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
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--bills", type=int, default=400_000)
    parser.add_argument("--count", type=int, default=30, help="payments counted on the wire")
    args = parser.parse_args()
    started_load = load_average()
    m = measure(args, Path(tempfile.mkdtemp(prefix="cityhub-bench-pay-")))
    run: loadgen.Run = m["spent"].result
    by_client = payments_of(run)
    payments = [p for done in by_client.values() for p in done]
    value, window = steady_rate(by_client, run.stop_at)
    if window < args.seconds / 3:
        print(f"warning: the clients were in their stride for {window:.1f} s only; give more "
              "--seconds for a steady figure")  # fmt: skip
    ref = max(m["refs"], key=lambda r: r.per_second)
    calls = run.of("quote", "confirm")
    call_p99 = loadgen.latency_ms(calls, 0.99)
    lasted = [end - start for start, end in payments]
    report.machine(started_load)
    print(f"{args.clients} clients, {args.seconds:g} s; {args.workers} hub process(es); answers "
          f"{loadgen.statuses(calls)}; wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} payments/s (over the last {window:.1f} s, all clients in "
          f"their stride; {len(payments)} payments in all); per call p50 "
          f"{loadgen.latency_ms(calls, 0.5):.1f} ms, p99 {call_p99:.1f} ms; per payment p50 "
          f"{1000 * percentile(lasted, 0.5):.1f} ms, "
          f"p99 {1000 * percentile(lasted, 0.99):.1f} ms")  # fmt: skip
    for when, r in zip(("before the hub's run", "after the hub's run"), m["refs"], strict=True):
        print(r.line("payments/s", when, m["floor"].name))
    report.costs(
        "payment", {"hub": m["hub_counts"].per(args.count), "reference": m["ref_counts"].per(20)}
    )
    report.per_operation(
        "payment", len(payments), m["spent"].hub_cpu, m["spent"].server_cpu, run.client_cpu, ref.cpu
    )
    report.load_generator(run.client_cpu, run.elapsed)
    print(f"after: ledger {'balanced' if m['books'].ok else 'BROKEN'}, {m['confirmed']} payments "
          f"confirmed in all; p99 of a call {call_p99:.0f} ms (target < {P99_TARGET_MS:.0f} ms: "
          f"{'met' if call_p99 < P99_TARGET_MS else 'not met'})")  # fmt: skip
    report.result({
        "name": "payments_quote_confirm_per_second", "value": value, "unit": "payments/s",
        "reference": ref.per_second, "ratio": value / ref.per_second, "target": TARGET,
        "higher_is_better": True, "reference_script": reference.label(m["floor"]),
    })  # fmt: skip
    if not m["books"].ok:
        raise SystemExit("the ledger does not balance")


if __name__ == "__main__":
    main()
