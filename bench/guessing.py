"""What guessing secrets does to everyone else: the latency of an unrelated read while clients
guess client secrets as fast as the hub answers them.

Starts `cityhub serve` on SQLite in a temporary folder with one channel, then drives it over
real HTTP from this process:

- reference: median latency of `GET /v1/cities` with nobody guessing;
- value: the same median while `GUESSERS` clients post wrong secrets to `/v1/oauth/token`
  without pause. The limits on guessing are lifted for this run (huge allowances), so that
  every guess really costs an argon2 check: what is measured is whether those checks stop the
  rest of the hub, not how quickly the limits refuse them.

Also counts the guesses answered anything but 401 or 429, and the reads answered anything but
200 (there should be none). The ratio (value / reference) should stay well below what it was
when the checks ran on the event loop: they run on their own threads, never on the loop or
inside a database transaction. Prints one JSON line last.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from support import free_port, report

CITYHUB = str(Path(sys.executable).parent / "cityhub")
GUESSERS = 8
SAMPLES = 40
# The checks and the read share the machine's cores (two, on the reference machine), so the read
# does slow down; with the checks on the event loop it took a hundred times as long, and failed.
TARGET = 25.0


async def wait_ready(client: httpx.AsyncClient, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the hub did not become ready")


async def median_read(client: httpx.AsyncClient, failed: Counter[int | str]) -> float:
    """The median latency of the read; answers other than 200 are counted in `failed`."""
    took = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        try:
            status: int | str = (await client.get("/v1/cities")).status_code
        except httpx.TransportError as exc:
            status = type(exc).__name__
        took.append(time.perf_counter() - started)
        if status != 200:
            failed[status] += 1
    return statistics.median(took)


async def measure(base_url: str, client_id: str) -> dict[str, float | int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=120, trust_env=False) as client:
        await wait_ready(client, time.monotonic() + 90)
        for _ in range(10):  # warm up
            await client.get("/v1/cities")
        failed: Counter[int | str] = Counter()
        reference = await median_read(client, failed)
        stop = asyncio.Event()
        answers: Counter[int | str] = Counter()

        async def guess() -> None:
            form = {"grant_type": "client_credentials", "client_id": client_id}
            while not stop.is_set():
                try:
                    response = await client.post(
                        "/v1/oauth/token", data={**form, "client_secret": "x"}
                    )
                except httpx.TransportError as exc:
                    answers[type(exc).__name__] += 1
                    continue
                answers[response.status_code] += 1

        guessers = [asyncio.create_task(guess()) for _ in range(GUESSERS)]
        await asyncio.sleep(1)  # let the guessing get going
        value = await median_read(client, failed)
        stop.set()
        await asyncio.gather(*guessers)
    return {
        "reference_s": round(reference, 4),
        "value_s": round(value, 4),
        "guesses": sum(answers.values()),
        "guesses_failed": sum(n for k, n in answers.items() if k not in (401, 429)),
        "reads_failed": sum(failed.values()),
        "failures": {str(k): n for k, n in (answers + failed).items() if k not in (200, 401, 429)},
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        port = free_port()
        env.update(
            CITYHUB_ENV="test",
            CITYHUB_DATA=folder,
            CITYHUB_PORT=str(port),
            CITYHUB_LOG_LEVEL="WARNING",
            CITYHUB_SIGN_IN_ATTEMPTS="1000000",
            CITYHUB_SIGN_IN_ATTEMPTS_PER_ADDRESS="1000000",
            CITYHUB_RATE_LIMITS="false",  # the guessing back-off is measured, not the limits
        )
        subprocess.run([CITYHUB, "db", "upgrade"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [CITYHUB, "channels", "create", "bench", "Bench"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        client_id = json.loads(made.stdout)["client_id"]
        with open(Path(folder) / "hub.log", "wb") as log:
            hub = subprocess.Popen([CITYHUB, "serve"], env=env, stdout=log, stderr=log)
            try:
                result = asyncio.run(measure(f"http://127.0.0.1:{port}", client_id))
            finally:
                hub.terminate()
                hub.wait(timeout=30)
    ratio = result["value_s"] / result["reference_s"]
    print(
        f"guesses {result['guesses']} ({result['guesses_failed']} failed), reads failed "
        f"{result['reads_failed']}, failures {result['failures']}"
    )
    report.result(
        {
            "name": "guessing",
            "value": result["value_s"],
            "unit": "s (median GET /v1/cities, with guessing)",
            "reference": result["reference_s"],
            "ratio": ratio,
            "target": TARGET,
            "higher_is_better": False,
            "reference_script": "GET /v1/cities on the same hub with no guessing",
        }
    )
    if result["guesses_failed"] or result["reads_failed"] or ratio > TARGET:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
