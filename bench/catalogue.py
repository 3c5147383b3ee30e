"""A channel's catalogue read through the hub, against the hub's own `/healthz`, both by wrk.

On a fresh PostgreSQL database of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created, then
dropped): a city of 30 services in 3 categories, 20 of them granted to a channel. Then:

1. counted on the wire: `cityhub serve` with its database connections through a counting
   proxy, one client reading the catalogue 50 times and `/healthz` 50 times -> round trips,
   statements and commits per request;
2. timed: `cityhub serve` straight on PostgreSQL; `--clients` wrk clients (one connection
   each) call `GET /healthz` for `--seconds`, then `GET /v1/cities/bench/services?limit=20`
   with the channel's token (token check, city, grant, one page), then `/healthz` again ->
   requests/s, p50/p99, the hub's CPU per request. The higher `/healthz` rate is the
   reference: the cheapest answer of the same server, driven by the same load generator, so
   the ratio says what the authenticated, tenant-checked read costs over the bare HTTP stack.

The last line is one JSON object: value = the catalogue's requests/s, reference = `/healthz`'s,
ratio = value / reference, target 0.3 (higher is better).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from support import fresh_databases, load_average, loadgen, report
from support.hub import Hub
from support.pgwire import CountingProxy
from support.procstat import ServerCpu

from cityhub import migrations
from cityhub.platform.db import Database

TARGET = 0.3
CATALOGUE = "/v1/cities/bench/services?limit=20"
COUNT = 50


async def prepare(url: str) -> dict[str, Any]:
    """Migrate; a city of 30 services in 3 categories, 20 of them granted to a channel."""
    from tests.cities.factories import create_city, create_grant, create_service
    from tests.identity.factories import SECRET, create_channel

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        login = await create_channel(db, slug="bench-app")
        for n in range(30):
            made = await create_service(
                db,
                city=city,
                code=f"svc-{n:02d}",
                category=("payments", "medical", "queries")[n % 3],
            )
            if n < 20:
                await create_grant(db, channel=login.channel, service=made)
        return {"client_id": login.client_id, "secret": SECRET}
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="hub processes (cityhub serve --workers)",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    started_load = load_average()
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-catalogue-"))
    name = f"cityhub_bench_catalogue_{os.getpid()}"
    with fresh_databases(name) as (url,):
        world = asyncio.run(prepare(url))
        target = make_url(url)
        counts = {}
        with CountingProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
            through = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            with Hub(through, folder, "hub-counted") as hub:
                token = hub.token(world["client_id"], world["secret"])
                for label, path in (("catalogue", CATALOGUE), ("/healthz", "/healthz")):
                    one = {"path": path, "token": token if path == CATALOGUE else ""}
                    loadgen.run(hub.base_url, "get", 1, one, seconds=1)  # warm up
                    before = proxy.snapshot()
                    ran = loadgen.run(hub.base_url, "get", 1, one, seconds=1)
                    spent = proxy.snapshot() - before
                    spent.round_trips -= spent.connections
                    counts[label] = spent.per(len(ran.records))

        runs: dict[str, loadgen.Run] = {}
        cpu: dict[str, tuple[float, float, bool]] = {}
        with Hub(url, folder, workers=args.workers) as hub:
            token = hub.token(world["client_id"], world["secret"])
            for label, path in (("warm", CATALOGUE), ("healthz-1", "/healthz"),
                                ("catalogue", CATALOGUE), ("healthz-2", "/healthz")):  # fmt: skip
                seconds = 2 if label == "warm" else args.seconds
                before = hub.cpu()
                with ServerCpu(name) as backends:
                    runs[label] = loadgen.run(
                        hub.base_url, "get", args.clients,
                        {"path": path, "token": token if path == CATALOGUE else ""},
                        seconds=seconds,
                    )  # fmt: skip
                cpu[label] = (hub.cpu() - before, backends.seconds, backends.seen)

    def rate(run: loadgen.Run) -> float:
        return len([r for r in run.records if r.status == 200]) / run.elapsed

    health = max(("healthz-1", "healthz-2"), key=lambda k: rate(runs[k]))
    value, ref = rate(runs["catalogue"]), rate(runs[health])
    report.machine(started_load)
    print(f"{args.clients} clients, {args.seconds:g} s each; {args.workers} hub process(es)")
    for label in ("healthz-1", "catalogue", "healthz-2"):
        r = runs[label]
        p50, p99 = loadgen.latency_ms(r.records, 0.5), loadgen.latency_ms(r.records, 0.99)
        print(f"{label:>10}: {rate(r):.1f} requests/s; p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
              f"answers {loadgen.statuses(r.records)}; wrk used "
              f"{100 * r.client_cpu / r.elapsed:.0f}% of a core; "
              f"socket errors: {r.socket_errors}")  # fmt: skip
    report.costs("request", counts)
    for label in ("catalogue", health):
        hub_cpu, backends_cpu, seen = cpu[label]
        n = len(runs[label].records)
        report.cpu(f"request ({label})", {
            "hub processes": 1000 * hub_cpu / n,
            "hub's PostgreSQL backends": 1000 * backends_cpu / n if seen else None,
            "wrk": 1000 * runs[label].client_cpu / n,
        })  # fmt: skip
    report.result({
        "name": "catalogue_read_per_second", "value": value, "unit": "requests/s", "reference": ref,
        "ratio": value / ref, "target": TARGET, "higher_is_better": True,
        "reference_script": "GET /healthz (the same hub, the same wrk clients)",
    })  # fmt: skip


if __name__ == "__main__":
    main()
