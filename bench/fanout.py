"""One broadcast to a million followers on PostgreSQL, written to their inboxes, against COPY.

On a fresh PostgreSQL database (created on the server of `--server`, dropped afterwards):

1. a city with a government account and a template, and `--followers` residents following the
   account (written with `generate_series`: the set-up is not measured);
2. `cityhub serve` (no embedded worker) and `cityhub worker` as subprocesses, as in
   production;
3. the broadcast is sent (its notice and fan-out event committed); the worker writes the
   inboxes chunk by chunk (`CITYHUB_NOTICE_FANOUT_CHUNK`), each chunk one transaction with
   its outbox bookkeeping and the push event of the chunk -> inbox rows per second, from the
   commit of the notice to the notice being marked fanned out;
4. all the while, a client calls a light endpoint (`GET /v1/cities/bench`) over HTTP, one
   call after another -> its p50 and p99 during the fan-out;
5. the reference: `COPY` of as many rows into the same inbox table (same indexes and keys),
   for a second notice, in the same run -> rows per second.

The last line is one JSON object: value = the hub's rows/s, reference = COPY's rows/s,
ratio = value / reference, target = 0.5 (higher is better); the p99 of the light endpoint
(target: under 50 ms) is printed above it and in the JSON's `p99_ms`.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from support import admin, free_port, percentile  # noqa: E402

from cityhub import migrations  # noqa: E402
from cityhub.platform.db import Database  # noqa: E402

TARGET = 0.5
P99_TARGET_MS = 50.0
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


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


async def copy_reference(dsn: str, city_id: int, account_id: int, followers: int) -> float:
    """COPY as many inbox rows for a second notice; rows per second."""
    conn = await asyncpg.connect(dsn)
    try:
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
                "notice_inbox",
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--followers", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument(
        "--server", default=os.environ.get("CITYHUB_BENCH_POSTGRES", DEFAULT_SERVER)
    )
    args = parser.parse_args()

    name = f"cityhub_bench_fanout_{uuid.uuid4().hex[:8]}"
    url = make_url(args.server).set(database=name).render_as_string(False)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    await admin(args.server, f'CREATE DATABASE "{name}"')
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-fanout-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        world = await prepare(url, args.followers)
        print(f"set-up: {args.followers} followers in {time.perf_counter() - started:.1f}s")
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
            CITYHUB_NOTICE_FANOUT_CHUNK=str(args.chunk),
        )
        processes.append(start(["serve"], env, folder / "serve.log"))
        processes.append(start(["worker"], env, folder / "worker.log"))
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=2, trust_env=False) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the hub did not start")

        idle: list[float] = []
        stop = asyncio.Event()
        warm = asyncio.create_task(probe(base, stop, idle))
        await asyncio.sleep(3)
        stop.set()
        await warm

        latencies: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(base, stop, latencies))
        notice_id = await send(url, world["city"])
        seconds = await wait_fanned_out(dsn, notice_id, timeout=900)
        stop.set()
        await prober
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        processes.clear()

        conn = await asyncpg.connect(dsn)
        try:
            written = await conn.fetchval(
                "SELECT count(*) FROM notice_inbox WHERE notice_id = $1", notice_id
            )
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT resident_id) FROM notice_inbox WHERE notice_id = $1",
                notice_id,
            )
        finally:
            await conn.close()
        assert written == distinct == args.followers, (written, distinct)
        hub_rate = written / seconds
        copy_rate = await copy_reference(dsn, world["city"], world["account"], args.followers)
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(f"fan-out: {written} inbox rows in {seconds:.2f}s = {hub_rate:,.0f} rows/s")
        print(f"COPY:    {args.followers} inbox rows = {copy_rate:,.0f} rows/s")
        print(
            f"GET /v1/cities/bench during the fan-out: {len(latencies)} calls, p50 {p50:.1f} ms,"
            f" p99 {p99:.1f} ms (idle p99 {percentile(idle, 0.99):.1f} ms; target < "
            f"{P99_TARGET_MS:.0f} ms: {'met' if p99 < P99_TARGET_MS else 'NOT met'})"
        )
        result: dict[str, Any] = {
            "name": "notice fan-out to inboxes, rows/s (PostgreSQL)",
            "value": round(hub_rate, 1),
            "unit": "rows/s",
            "reference": round(copy_rate, 1),
            "ratio": round(hub_rate / copy_rate, 3),
            "target": TARGET,
            "higher_is_better": True,
            "p99_ms": round(p99, 1),
            "p99_target_ms": P99_TARGET_MS,
        }
        print(json.dumps(result))
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=10)
        await admin(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
