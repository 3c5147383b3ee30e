"""The load generator: wrk (C, one thread and one connection per client) playing `flows.lua`.

A Python HTTP client spends more CPU per request than the hub's cheapest answers, so on a
2-core machine it would measure itself; wrk costs a few tens of microseconds a request, and the
benches report what it used (`Run.client_cpu`)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import percentile

LUA = Path(__file__).resolve().parent / "flows.lua"


@dataclass(frozen=True)
class Record:
    """One request of one client: when it left (monotonic s), what it was, how it went."""

    client: int
    start: float
    kind: str
    status: int
    latency: float
    info: str

    @property
    def end(self) -> float:
        return self.start + self.latency


@dataclass
class Run:
    """What wrk's clients recorded, and what wrk itself cost."""

    records: list[Record]
    client_cpu: float  # CPU seconds used by wrk
    socket_errors: str
    started: float = 0.0
    ended: float = 0.0
    stop_at: float = 0.0  # when the clients were told to stop (monotonic s), if they were
    by_client: dict[int, list[Record]] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    def of(self, *kinds: str) -> list[Record]:
        return [r for r in self.records if r.kind in kinds]


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: `make install` installs Debian's package")
    return found


def write_plans(folder: Path, plans: list[list[tuple[str, str, str]]]) -> None:
    """One plan per client: the (user, slot, idempotency key) of each of its requests."""
    for number, plan in enumerate(plans):
        lines = "".join(f"{user}\t{slot}\t{key}\n" for user, slot, key in plan)
        (folder / f"plan-{number}.tsv").write_text(lines)


def run(
    base_url: str,
    flow: str,
    clients: int,
    options: dict[str, str | int],
    *,
    seconds: float = 0.0,
    folder: Path | None = None,
    limit: float = 1800.0,
) -> Run:
    """Run `clients` clients of `flow` until their plans end (or for `seconds`; at most
    `limit` seconds less one minute)."""
    folder = folder or Path(tempfile.mkdtemp(prefix="cityhub-wrk-"))
    for old in (*folder.glob("client-*.log"), *folder.glob("client-*.done")):
        old.unlink()
    # A plan that cannot be played out within the limit stops a minute before it, so that the
    # clients still write down what they did (wrk's own `-d` would drop it all).
    stop_at = int((time.monotonic() + (seconds or max(limit - 60, 1))) * 1e6)
    arguments = {"flow": flow, "dir": str(folder), "clients": clients, "stop_at": stop_at}
    command = [
        wrk_binary(),
        "-t", str(clients), "-c", str(clients), "-d", f"{int(limit)}s", "--timeout", "120s",
        "-s", str(LUA), base_url, "--",
        *(f"{k}={v}" for k, v in {**arguments, **options}.items()),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + limit + 10
    try:
        while len(list(folder.glob("client-*.done"))) < clients:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                raise SystemExit(f"wrk stopped before its clients were done:\n{output}")
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait()
        raise
    # Every client has stopped: wake wrk from its `-d` sleep so that it reports and exits.
    process.send_signal(signal.SIGINT)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    output = process.stdout.read().decode() if process.stdout else ""
    errors = re.search(r"Socket errors: (.*)", output)
    records = []
    for number in range(clients):
        for line in (folder / f"client-{number}.log").read_text().splitlines():
            if line:
                start, kind, status, latency, info = line.split("\t")
                records.append(
                    Record(number, int(start) / 1e6, kind, int(status), int(latency) / 1e6, info)
                )
    result = Run(records, usage.ru_utime + usage.ru_stime, errors.group(1) if errors else "none")
    result.stop_at = stop_at / 1e6
    if records:
        result.started = min(r.start for r in records)
        result.ended = max(r.end for r in records)
    for r in records:
        result.by_client.setdefault(r.client, []).append(r)
    return result


def latency_ms(records: list[Record], share: float) -> float:
    """A percentile of the records' latencies, in milliseconds."""
    return percentile([r.latency for r in records], share) * 1000


def served(records: list[Record]) -> list[Record]:
    """The requests the hub answered with a decision (2xx, or a 409 refusal): what the rates
    count. A 500, a 401 or a 503 shed under load is not a served attempt, so answering fast
    that way cannot raise a rate."""
    return [r for r in records if 200 <= r.status < 300 or r.status == 409]


def statuses(records: list[Record]) -> dict[str, int]:
    """How many answers of each status (and problem code), e.g. {"201": 10, "409 slot_full": 3}."""
    found: dict[str, int] = {}
    for r in records:
        key = str(r.status) if r.status < 300 else f"{r.status} {r.info}".strip()
        found[key] = found.get(key, 0) + 1
    return dict(sorted(found.items()))
