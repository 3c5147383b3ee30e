"""Throughput of a channel's authenticated catalogue read against a bare health check.

Starts the demo hub on SQLite in a temporary folder, then drives it over real HTTP from this
process with a fixed number of concurrent clients:

- value: requests per second of `GET /v1/cities/shanghai/services` with a channel token
  (token check, grant check, one paged query);
- reference: requests per second of `GET /healthz` on the same server in the same run.

The ratio (value / reference) says what the authenticated, tenant-checked read costs relative
to the bare HTTP stack, so it is comparable across noisy machines. Prints one JSON line last.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from support import free_port

ROOT = Path(__file__).resolve().parent.parent
CITYHUB = str(Path(sys.executable).parent / "cityhub")
CONCURRENCY = 16
REQUESTS = 3000
TARGET = 0.25  # the catalogue read should cost at most four health checks


async def wait_ready(client: httpx.AsyncClient, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the hub did not become ready")


async def throughput(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> float:
    remaining = REQUESTS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await client.get(path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")

    for _ in range(100):  # warm up
        await client.get(path, headers=headers)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return REQUESTS / (time.perf_counter() - started)


async def measure(base_url: str, client_id: str, secret: str) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        await wait_ready(client, time.monotonic() + 60)
        token = (
            await client.post(
                "/v1/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        reference = await throughput(client, "/healthz", {})
        value = await throughput(client, "/v1/cities/shanghai/services?limit=20", auth)
        return value, reference


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "CITYHUB_DATA": data,
            "CITYHUB_ENV": "demo",
            "CITYHUB_LOG_LEVEL": "WARNING",
        }
        subprocess.run([CITYHUB, "demo", "--no-serve"], env=env, check=True, capture_output=True)
        creds = json.loads(
            subprocess.run(
                [CITYHUB, "demo", "credentials", "--json"],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        channel = next(c for c in creds["channels"] if "shanghai" in c["cities"])
        port = free_port()
        server = subprocess.Popen(
            [CITYHUB, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            value, reference = asyncio.run(
                measure(f"http://127.0.0.1:{port}", channel["client_id"], channel["client_secret"])
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratio = value / reference
    print(
        f"catalogue read: {value:.0f} req/s; health check: {reference:.0f} req/s", file=sys.stderr
    )
    print(
        json.dumps(
            {
                "name": "catalogue_read_throughput",
                "value": round(value, 1),
                "unit": "requests/s",
                "reference": round(reference, 1),
                "ratio": round(ratio, 3),
                "target": TARGET,
                "higher_is_better": True,
            }
        )
    )


if __name__ == "__main__":
    main()
