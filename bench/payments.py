"""Bill payments per second through the hub, against pgbench running the same SQL.

On a fresh PostgreSQL database (created on the server of `--server`, dropped afterwards):

1. a city, a channel granted a bill service, and `--bills` bills the channel was shown;
2. `cityhub serve` in a subprocess (no embedded outbox worker: paying the billers is the
   workers' job, measured elsewhere), driven over real HTTP by `--clients` concurrent
   clients, each running the full flow for one bill after another for `--seconds`:
   `POST /payments` (Idempotency-Key) then `POST /payments/{id}/confirmation`
   (Idempotency-Key) -> payments/s, p50 and p99 of a payment (both calls) and of a call;
3. one more payment made in this process with every SQL statement the hub issues captured,
   transaction by transaction, and turned into a pgbench script: the same statements, the
   same transactions, only the values that must differ per payment (keys, ids, the bill)
   made variables;
4. pgbench with as many clients for as long -> payments/s (one script run = one payment).

The last line is one JSON object: value = the hub's payments/s, reference = pgbench's,
ratio = value / reference, target = 0.35 (higher is better). Both run on this machine at
the same time as the load generator, so the ratio, not the absolute figure, is what carries
over to other machines.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import enum
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.* factories

from support import admin, free_port, percentile  # noqa: E402

from cityhub import migrations  # noqa: E402
from cityhub.billing import ledger  # noqa: E402
from cityhub.billing.models import LedgerAccount, Payment, PaymentStatus, Posting  # noqa: E402
from cityhub.cities.models import ServiceKind  # noqa: E402
from cityhub.outbox import OutboxEvent  # noqa: E402
from cityhub.platform.config import Settings  # noqa: E402
from cityhub.platform.db import Database  # noqa: E402

TARGET = 0.35
AMOUNT = 7_777_777  # fen; far from every id, so that values in captured SQL are unambiguous
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


# -- the world --------------------------------------------------------------------------


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
            first = await conn.scalar(text("SELECT id FROM bills WHERE bill_ref = 'PB1'"))
        # The script takes bill `PB<n>` to be row `n`: true on a fresh table.
        assert first == 1, first
        return {"client_id": login.client_id, "secret": SECRET}
    finally:
        await db.dispose()


async def token(client: httpx.AsyncClient, world: dict[str, Any]) -> dict[str, str]:
    answer = await client.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": world["client_id"],
            "client_secret": world["secret"],
        },
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def pay(
    client: httpx.AsyncClient, headers: dict[str, str], bill: int, tag: str
) -> tuple[float, float, dict[str, Any]]:
    """One full payment: quote then confirm; the two calls' latencies and the payment."""
    started = time.perf_counter()
    quoted = await client.post(
        "/v1/cities/bench/payments",
        json={"service": "water", "bill_id": f"PB{bill}", "amount_fen": AMOUNT, "currency": "CNY"},
        headers={**headers, "Idempotency-Key": f"create-{tag}"},
    )
    middle = time.perf_counter()
    if quoted.status_code != 201:
        raise SystemExit(f"create: {quoted.status_code} {quoted.text[:300]}")
    payment = quoted.json()
    confirmed = await client.post(
        f"/v1/cities/bench/payments/{payment['id']}/confirmation",
        json={
            "channel_txn_id": f"txn-{tag}",
            "amount_fen": payment["total_fen"],
            "currency": "CNY",
        },
        headers={**headers, "Idempotency-Key": f"confirm-{tag}"},
    )
    if confirmed.status_code != 200:
        raise SystemExit(f"confirm: {confirmed.status_code} {confirmed.text[:300]}")
    return middle - started, time.perf_counter() - middle, payment


# -- the hub, over HTTP -----------------------------------------------------------------


async def ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the hub did not become ready")
        await asyncio.sleep(0.2)


async def drive(
    base_urls: list[str], world: dict[str, Any], clients: int, seconds: float
) -> dict[str, Any]:
    per_hub = -(-clients // len(base_urls))
    limits = httpx.Limits(max_connections=per_hub, max_keepalive_connections=per_hub)
    hubs = [httpx.AsyncClient(base_url=u, limits=limits, timeout=60) for u in base_urls]
    try:
        for client in hubs:
            await ready(client)
        headers = await token(hubs[0], world)
        bills = itertools.count(1)
        for client in hubs:
            for _ in range(20):  # warm up: connections, caches, accounts opened
                n = next(bills)
                await pay(client, headers, n, f"warm-{n}")
        payments: list[float] = []
        calls: list[float] = []
        stop_at = time.monotonic() + seconds

        async def one_client(client: httpx.AsyncClient) -> None:
            while time.monotonic() < stop_at:
                n = next(bills)
                create, confirm, _ = await pay(client, headers, n, f"b-{n}")
                payments.append(create + confirm)
                calls.extend((create, confirm))

        started = time.perf_counter()
        await asyncio.gather(*(one_client(hubs[i % len(hubs)]) for i in range(clients)))
        elapsed = time.perf_counter() - started
    finally:
        for client in hubs:
            await client.aclose()
    return {
        "payments": len(payments),
        "per_second": len(payments) / elapsed,
        "p50_ms": percentile(payments, 0.50) * 1000,
        "p99_ms": percentile(payments, 0.99) * 1000,
        "call_p50_ms": percentile(calls, 0.50) * 1000,
        "call_p99_ms": percentile(calls, 0.99) * 1000,
        "next_bill": next(bills),
    }


# -- the same SQL, for pgbench ----------------------------------------------------------


async def capture(
    url: str, world: dict[str, Any], bill: int
) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    """Make one payment in this process and record every statement and transaction edge."""
    from cityhub.app import create_app

    db = Database(url)
    settings = Settings(env="test", database_url=url, embedded_worker=False, log_level="WARNING")
    app = create_app(settings, db=db)
    log: list[tuple[Any, ...]] = []
    recording = False

    def on_sql(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if recording:
            log.append(("sql", statement, tuple(params or ())))

    def edge(name: str) -> Any:
        def listener(conn: Any) -> None:
            if recording:
                log.append((name,))

        return listener

    # Ids far apart, so that each captured value says which it is (a payment's id would
    # otherwise equal its posting's and its bill's here: one of each per payment so far).
    async with db.engine.begin() as conn:
        for table, start in (("payments", 20_000_000), ("ledger_postings", 50_000_000)):
            await conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {start})")
            )
    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_sql)
    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, edge(name.upper()))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            headers = await token(client, world)
            recording = True
            _, _, payment = await pay(client, headers, bill, "capture")
            recording = False
        async with db.unit_of_work() as session:
            row = await session.scalar(select(Payment).where(Payment.public_id == payment["id"]))
            assert row is not None
            posting = await session.scalar(select(Posting.id).where(Posting.payment_id == row.id))
            event_id = await session.scalar(
                select(OutboxEvent.event_id)
                .where(OutboxEvent.topic == "billing.pay_biller")
                .order_by(OutboxEvent.id.desc())
                .limit(1)
            )
        values = {
            "pay_id": row.id,
            "bill_id": row.bill_id,
            "post_id": posting,
            "public_id": row.public_id,
            "event_id": event_id,
        }
        return log, values
    finally:
        await db.dispose()


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        value = value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    if isinstance(value, bytes):
        return "'\\x" + value.hex() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def script(log: list[tuple[Any, ...]], values: dict[str, Any]) -> str:
    """The captured payment as a pgbench script: one run is one payment."""
    dynamic: dict[Any, str] = {
        "create-capture": "('create-' || :uniq)",
        "confirm-capture": "('confirm-' || :uniq)",
        "txn-capture": "('txn-' || :uniq)",
        values["public_id"]: "('pay_' || :uniq)",
        values["event_id"]: "('ev-' || :uniq)",
        f"PB{values['bill_id']}": "('PB' || :b)",
    }
    numbers = {values["pay_id"]: ":pay_id", values["bill_id"]: ":b", values["post_id"]: ":post_id"}
    lines = [
        "-- the SQL the hub issued for one payment (create + confirm), captured by",
        "-- bench/payments.py; variables: the keys, ids and the bill of each payment",
        "\\set uniq random(1, 1000000000000)",
        "\\set b random(:lo, :hi)",
    ]
    for entry in log:
        if entry[0] == "BEGIN":
            lines.append("BEGIN;")
            continue
        if entry[0] in ("COMMIT", "ROLLBACK"):
            lines.append(f"{entry[0]};")
            continue
        _, statement, params = entry

        def render(match: re.Match[str], params: tuple[Any, ...] = params) -> str:
            value = params[int(match.group(1)) - 1]
            if isinstance(value, str) and value in dynamic:
                return dynamic[value]
            if isinstance(value, int) and not isinstance(value, bool) and value in numbers:
                return numbers[value]
            return _literal(value)

        sql = re.sub(r"\$(\d+)", render, statement).strip()
        ending = ";"
        if sql.startswith("INSERT INTO payments") and "RETURNING" in sql:
            ending = " \\gset pay_"
        elif sql.startswith("INSERT INTO ledger_postings") and "RETURNING" in sql:
            ending = " \\gset post_"
        lines.append(" ".join(sql.split()) + ending)
    return "\n".join(lines) + "\n"


def pgbench(
    url: str, path: Path, clients: int, seconds: float, lo: int, hi: int, logs: Path
) -> dict[str, Any]:
    binary = shutil.which("pgbench") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None
    )
    if binary is None:
        raise SystemExit("pgbench is not installed (package postgresql-client)")
    target = make_url(url)
    command = [
        binary,
        "-n",
        "-h", target.host or "127.0.0.1",
        "-p", str(target.port or 5432),
        "-U", target.username or "postgres",
        "-c", str(clients),
        "-j", str(min(clients, os.cpu_count() or 2)),
        "-T", str(int(seconds)),
        "-D", f"lo={lo}",
        "-D", f"hi={hi}",
        "-f", str(path),
        "-l", "--log-prefix", str(logs / "pgbench"),
        target.database or "postgres",
    ]  # fmt: skip
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=logs)
    if done.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latencies = []
    for file in logs.glob("pgbench*"):
        for line in file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]) / 1e6)
    return {
        "per_second": float(tps.group(1)) if tps else 0.0,
        "failed": int(failed.group(1)) if failed else 0,
        "runs": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def check(url: str) -> tuple[ledger.LedgerReport, int, int]:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            report = await ledger.check(session=session)
            confirmed = await session.scalar(
                select(func.count()).where(Payment.status == PaymentStatus.CONFIRMED)
            )
            accounts = await session.scalar(select(func.count()).select_from(LedgerAccount))
        return report, int(confirmed or 0), int(accounts or 0)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server", default=os.environ.get("CITYHUB_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--hubs", type=int, default=1, help="hub processes (stateless replicas) to spread over"
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--bills", type=int, default=400_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and the script")
    args = parser.parse_args()

    name = f"cityhub_bench_{os.getpid()}"
    url = make_url(args.server).set(database=name).render_as_string(False)
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-"))
    asyncio.run(admin(args.server, f'CREATE DATABASE "{name}"'))
    hubs: list[subprocess.Popen[bytes]] = []
    try:
        world = asyncio.run(prepare(url, args.bills))
        urls = []
        for number in range(args.hubs):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
            env.update(
                CITYHUB_ENV="test",
                CITYHUB_DATABASE_URL=url,
                CITYHUB_DATA=str(folder / "data"),
                CITYHUB_PORT=str(port),
                CITYHUB_EMBEDDED_WORKER="false",
            )
            with (folder / f"hub-{number}.log").open("wb") as out:
                hubs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cityhub", "serve"], env=env, stdout=out, stderr=out
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        measured = asyncio.run(drive(urls, world, args.clients, args.seconds))
        for hub in hubs:
            hub.terminate()
            hub.wait(timeout=20)
        hubs = []

        # The captured payment takes the last bill; pgbench the ones nobody paid yet.
        log, values = asyncio.run(capture(url, world, args.bills))
        path = folder / "payment.sql"
        path.write_text(script(log, values))
        lo, hi = measured["next_bill"] + 1, args.bills - 1
        reference = pgbench(url, path, args.clients, args.seconds, lo, hi, folder)
        report, confirmed, accounts = asyncio.run(check(url))
    finally:
        for hub in hubs:
            hub.kill()
        if not args.keep:
            asyncio.run(admin(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    statements = sum(1 for e in log if e[0] == "sql")
    transactions = sum(1 for e in log if e[0] == "BEGIN")
    ratio = measured["per_second"] / reference["per_second"] if reference["per_second"] else 0.0
    print(
        f"machine: {os.cpu_count()} CPUs; {args.clients} clients; {args.hubs} hub process(es); "
        f"{args.seconds:g} s each"
    )
    print(
        f"hub:     {measured['payments']} payments, {measured['per_second']:.1f} payments/s; "
        f"payment p50 {measured['p50_ms']:.1f} ms, p99 {measured['p99_ms']:.1f} ms; "
        f"per call p50 {measured['call_p50_ms']:.1f} ms, p99 {measured['call_p99_ms']:.1f} ms"
    )
    print(
        f"pgbench: {reference['runs']} payments, {reference['per_second']:.1f} payments/s; "
        f"payment p50 {reference['p50_ms']:.1f} ms, p99 {reference['p99_ms']:.1f} ms; "
        f"{reference['failed']} failed; same SQL: {statements} statements in {transactions} "
        "transactions per payment"
    )
    print(
        f"after:   ledger {'ok' if report.ok else 'BROKEN'} ({report.postings} postings, "
        f"{accounts} accounts), {confirmed} payments confirmed"
    )
    if args.keep:
        print(f"kept: database {name}, script {path}")
    print(
        json.dumps(
            {
                "name": "payments_create_confirm_per_second",
                "value": round(measured["per_second"], 1),
                "unit": "payments/s",
                "reference": round(reference["per_second"], 1),
                "ratio": round(ratio, 3),
                "target": TARGET,
                "higher_is_better": True,
            }
        )
    )


if __name__ == "__main__":
    main()
