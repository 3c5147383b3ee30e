"""One broadcast to a million followers on PostgreSQL, written to their inboxes, against COPY
into a fresh table of the same shape.

On a fresh PostgreSQL database of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created, then
dropped):

1. a city with a government account and a template, and `--followers` residents following the
   account (written with `generate_series`: the set-up is not measured);
2. `cityhub serve` (no embedded worker) and `cityhub worker` as subprocesses, as in
   production; the worker's database connections go through a counting proxy (it reads the
   protocol as it passes; the fan-out's rows never cross the wire, they are written by
   `INSERT ... SELECT`, so the proxy carries little);
3. the broadcast is sent (its notice and fan-out event committed); the worker writes the
   inboxes chunk by chunk (`CITYHUB_NOTICE_FANOUT_CHUNK`), each chunk one transaction with
   its outbox bookkeeping and the push event of the chunk -> inbox rows per second, from the
   commit of the notice to the notice being marked fanned out; the worker's round trips,
   statements and commits, and its CPU and its backends' CPU, per 1,000 rows;
4. all the while, a client calls a light endpoint (`GET /v1/cities/bench`) over HTTP, one
   call after another -> its p50 and p99 during the fan-out;
5. the reference: `COPY` of as many rows into a fresh, empty table of the same shape as the
   inbox (`LIKE notice_inbox INCLUDING ALL`: its columns, defaults, keys and indexes, plus the
   same foreign keys), in the same run -> rows per second.

The last line is one JSON object: value = the hub's rows/s, reference = COPY's rows/s,
ratio = value / reference, target 0.6 (higher is better); the light endpoint's p99 (target:
under 50 ms) is printed above it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from support import admin, free_port, load_average, percentile, report, server
from support.pgwire import CountingProxy
from support.procstat import ServerCpu, tree_cpu

from cityhub import migrations
from cityhub.platform.db import Database

TARGET = 0.6
P99_TARGET_MS = 50.0
STARTUP_SECONDS = 120  # a busy shared machine may take long to import the hub


async def prepare(url: str, followers: int) -> dict[str, int]:
    """Migrate; a city, its water company's account and template, and the followers."""
    from tests.cities.factories import create_city

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        async with db.engine.begin() as conn:
            account = await conn.scalar(
                text(
                    "INSERT INTO notice_accounts (city_id, code, name, agency, created_at)"
                    " VALUES (:city, 'water-co', 'Water company', 'Water', now()) RETURNING id"
                ),
                {"city": city.id},
            )
            await conn.execute(
                text(
                    "INSERT INTO notice_templates (city_id, account_id, code, placeholders,"
                    " texts, created_at) VALUES (:city, :account, 'outage', :ph, :texts, now())"
                ),
                {
                    "city": city.id,
                    "account": account,
                    "ph": json.dumps({"district": "text"}),
                    "texts": json.dumps(
                        {"en": {"title": "Water outage", "body": "No water in {district}."}}
                    ),
                },
            )
            await conn.execute(
                text("INSERT INTO residents (created_at) SELECT now() FROM generate_series(1, :n)"),
                {"n": followers},
            )
            await conn.execute(
                text(
                    "INSERT INTO notice_follows (city_id, account_id, topic, resident_id,"
                    " created_at) SELECT :city, :account, '', id, now() FROM residents"
                ),
                {"city": city.id, "account": account},
            )
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE"))
        return {"city": city.id, "account": int(account)}
    finally:
        await db.dispose()


async def send(url: str, city_id: int) -> int:
    """Send the broadcast as staff would (the service call behind the API); its row id."""
    from cityhub.cities.models import City
    from cityhub.identity import audit
    from cityhub.notices import sending
    from cityhub.notices.schemas import NoticeCreate

    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            city = await session.get(City, city_id)
            assert city is not None
            notice = await sending.create(
                session=session,
                city=city,
                actor=audit.Actor(type="staff", id="bench", name="Bench"),
                notice_in=NoticeCreate(
                    account="water-co", template="outage", values={"district": "Pudong"}
                ),
            )
            return notice.id
    finally:
        await db.dispose()


async def probe(base: str, stop: asyncio.Event, latencies: list[float]) -> None:
    """Call the light endpoint one call after another until told to stop."""
    async with httpx.AsyncClient(base_url=base, timeout=10, trust_env=False) as client:
        while not stop.is_set():
            started = time.perf_counter()
            answer = await client.get("/v1/cities/bench")
            latencies.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            await asyncio.sleep(0.01)


async def wait_fanned_out(dsn: str, notice_id: int, timeout: float) -> float:
    """Poll until the notice is fanned out; the moment it was, by the database's clock."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT status, created_at, fanned_at FROM notices WHERE id = $1", notice_id
            )
            if row["status"] == "sent":
                return float((row["fanned_at"] - row["created_at"]).total_seconds())
            await asyncio.sleep(0.2)
        raise SystemExit("the fan-out did not finish in time")
    finally:
        await conn.close()


REFERENCE_TABLE = "bench_reference_inbox"


async def copy_reference(dsn: str, city_id: int, account_id: int, followers: int) -> float:
    """COPY as many inbox rows for a second notice into a fresh table of the inbox's shape;
    rows per second."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE TABLE {REFERENCE_TABLE} (LIKE notice_inbox INCLUDING ALL)")
        for (definition,) in await conn.fetch(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'notice_inbox'::regclass AND contype = 'f'"
        ):
            await conn.execute(f"ALTER TABLE {REFERENCE_TABLE} ADD {definition}")
        await conn.execute(f"ANALYZE {REFERENCE_TABLE}")
        notice_id = await conn.fetchval(
            "INSERT INTO notices (city_id, public_id, account_id, kind, urgent, template, texts,"
            " audience, status, recipients, created_by, created_at)"
            " VALUES ($1, $2, $3, 'broadcast', false, 'outage', '{}', '{}', 'sent', 0, 'bench',"
            " now()) RETURNING id",
            city_id,
            f"ntc_copy_{uuid.uuid4().hex[:12]}",
            account_id,
        )
        residents = [r["id"] for r in await conn.fetch("SELECT id FROM residents ORDER BY id")]
        now = dt.datetime.now(dt.UTC)
        records = [(city_id, notice_id, r, now) for r in residents[:followers]]
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(
                REFERENCE_TABLE,
                records=records,
                columns=["city_id", "notice_id", "resident_id", "created_at"],
            )
        return len(records) / (time.perf_counter() - started)
    finally:
        await conn.close()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cityhub", *args], env=env, stdout=out, stderr=out
        )


async def start_hub(
    url: str, through: str, folder: Path, chunk: int
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """`cityhub serve` on the database, `cityhub worker` through the proxy; serve's address."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env.update(
        CITYHUB_ENV="test",
        CITYHUB_DATABASE_URL=url,
        CITYHUB_DATA=str(folder / "data"),
        CITYHUB_PORT=str(port),
        CITYHUB_EMBEDDED_WORKER="false",
        CITYHUB_LOG_LEVEL="WARNING",
        CITYHUB_OUTBOX_POLL_SECONDS="0.05",
        CITYHUB_NOTICE_FANOUT_CHUNK=str(chunk),
        CITYHUB_RATE_LIMITS="false",  # what is measured is the fan-out, not the limits
    )
    processes = [
        start(["serve"], env, folder / "serve.log"),
        start(["worker"], {**env, "CITYHUB_DATABASE_URL": through}, folder / "worker.log"),
    ]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=base, timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return processes, base
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the hub did not start")


async def fan_out(
    url: str, name: str, base: str, world: dict[str, int], worker: int, proxy: CountingProxy
) -> dict[str, Any]:
    """Send the broadcast and wait for its fan-out, probing the light endpoint meanwhile."""
    idle: list[float] = []
    stop = asyncio.Event()
    warm = asyncio.create_task(probe(base, stop, idle))
    await asyncio.sleep(3)
    stop.set()
    await warm
    latencies: list[float] = []
    stop = asyncio.Event()
    prober = asyncio.create_task(probe(base, stop, latencies))
    worker_before, counts_before = tree_cpu(worker), proxy.snapshot()
    with ServerCpu(name) as backends:
        notice_id = await send(url, world["city"])
        seconds = await wait_fanned_out(url.replace("+asyncpg", ""), notice_id, timeout=900)
    worker_cpu, counts = tree_cpu(worker) - worker_before, proxy.snapshot() - counts_before
    stop.set()
    await prober
    return {
        "notice": notice_id, "seconds": seconds, "idle": idle, "latencies": latencies,
        "worker_cpu": worker_cpu, "counts": counts,
        "server_cpu": backends.seconds if backends.seen else None,
    }  # fmt: skip


async def written_rows(dsn: str, notice_id: int) -> int:
    """The notice's inbox rows, each resident once."""
    conn = await asyncpg.connect(dsn)
    try:
        written = await conn.fetchval(
            "SELECT count(*) FROM notice_inbox WHERE notice_id = $1", notice_id
        )
        distinct = await conn.fetchval(
            "SELECT count(DISTINCT resident_id) FROM notice_inbox WHERE notice_id = $1", notice_id
        )
    finally:
        await conn.close()
    assert written == distinct, (written, distinct)
    return int(written)


def show(
    args: argparse.Namespace, m: dict[str, Any], written: int, copy: tuple[float, float | None]
) -> None:
    """Print what the fan-out and the COPY measured, and the JSON line."""
    hub_rate, (copy_rate, copy_cpu) = written / m["seconds"], copy
    latencies, thousands = m["latencies"], written / 1000
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    print(f"fan-out: {written} inbox rows in {m['seconds']:.2f}s = {hub_rate:,.0f} rows/s")
    print(f"COPY:    {args.followers} rows into a fresh {REFERENCE_TABLE}: {copy_rate:,.0f}/s")
    print(
        f"GET /v1/cities/bench during the fan-out: {len(latencies)} calls, p50 {p50:.1f} ms,"
        f" p99 {p99:.1f} ms (idle p99 {percentile(m['idle'], 0.99):.1f} ms; target < "
        f"{P99_TARGET_MS:.0f} ms: {'met' if p99 < P99_TARGET_MS else 'NOT met'})"
    )
    chunks = -(-written // args.chunk)
    report.costs(
        f"chunk of {args.chunk:,} rows", {"worker, polls included": m["counts"].per(chunks)}
    )
    report.cpu("1,000 inbox rows", {
        "worker process": 1000 * m["worker_cpu"] / thousands,
        "hub's PostgreSQL backends": None if m["server_cpu"] is None
        else 1000 * m["server_cpu"] / thousands,
        "COPY's PostgreSQL backend": None if copy_cpu is None else 1000 * copy_cpu / thousands,
    })  # fmt: skip
    report.result({
        "name": "notice_fanout_rows_per_second", "value": hub_rate, "unit": "rows/s",
        "reference": copy_rate, "ratio": hub_rate / copy_rate, "target": TARGET,
        "higher_is_better": True,
        "reference_script": "COPY into a fresh table LIKE notice_inbox INCLUDING ALL, with its "
        "foreign keys",
    })  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()
    started_load = load_average()
    name = f"cityhub_bench_fanout_{uuid.uuid4().hex[:8]}"
    target = make_url(server()).set(database=name)
    url = target.render_as_string(False)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await admin(server(), f'CREATE DATABASE "{name}"')
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-fanout-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        world = await prepare(url, args.followers)
        print(f"set-up: {args.followers} followers in {time.perf_counter() - started:.1f}s")
        with CountingProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            through = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            processes, base = await start_hub(url, through, folder, args.chunk)
            measured = await fan_out(url, name, base, world, processes[1].pid, proxy)
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=20)
            processes.clear()
        written = await written_rows(dsn, measured["notice"])
        assert written == args.followers, written
        with ServerCpu(name) as copy_backends:
            copy_rate = await copy_reference(dsn, world["city"], world["account"], args.followers)
        report.machine(started_load)
        copy_cpu = copy_backends.seconds if copy_backends.seen else None
        show(args, measured, written, (copy_rate, copy_cpu))
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
        await admin(server(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
