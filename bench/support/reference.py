"""The fixed references (`../shared/bench/` beside the repository), run by pgbench on a fresh
database of the same server, and counted through the same proxy as the hub."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from support import percentile
from support.pgwire import CountingProxy, Counts
from support.procstat import ServerCpu

ROOT = Path(__file__).resolve().parents[2]
ENV = "CITYHUB_BENCH_REFERENCES"


def folder() -> Path:
    """Where the reference scripts are: `$CITYHUB_BENCH_REFERENCES`, else `../shared/bench`."""
    override = os.environ.get(ENV)
    found = Path(override) if override else ROOT.parent / "shared" / "bench"
    if not (found / "README.md").is_file():
        raise SystemExit(
            f"the fixed reference scripts are not at {found}: the benches measure against "
            f"shared/bench/ beside the repository (or set {ENV} to their folder)"
        )
    return found


def script(name: str) -> Path:
    """One reference file, which must exist."""
    path = folder() / name
    if not path.is_file():
        raise SystemExit(f"the reference script {path} is missing")
    return path


def label(path: Path) -> str:
    """How the JSON line names a reference script: `shared/bench/<file>` when it is there."""
    default = ROOT.parent / "shared" / "bench"
    return f"shared/bench/{path.name}" if path.parent.resolve() == default.resolve() else str(path)


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise SystemExit(f"{name} is not installed (Debian package postgresql-client)")
    return found


def _connection(url: URL, port: int | None = None) -> tuple[list[str], dict[str, str]]:
    args = ["-h", url.host or "127.0.0.1", "-p", str(port or url.port or 5432)]
    args += ["-U", url.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": url.password or "", "PGSSLMODE": "disable"}
    return args, env


def load(url: str, *files: Path) -> None:
    """Run SQL files with psql (stopping at the first error)."""
    target = make_url(url)
    args, env = _connection(target)
    command = [_binary("psql"), "-q", "-v", "ON_ERROR_STOP=1", *args, "-d", str(target.database)]
    for file in files:
        command += ["-f", str(file)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"psql failed on {[f.name for f in files]}:\n{done.stderr}")


@dataclass
class Pgbench:
    """One pgbench run: transactions (runs of the script) per second, and their latencies."""

    clients: int
    runs: int
    per_second: float
    p50_ms: float
    p99_ms: float
    failed: int
    server_cpu: float  # CPU seconds of the database's backends during the run
    server_seen: bool

    @property
    def cpu(self) -> tuple[float | None, int]:
        """(its backends' CPU seconds, or None if not seen; its runs), for the report."""
        return (self.server_cpu if self.server_seen else None, self.runs)

    def line(self, unit: str, when: str, name: str, extra: str = "") -> str:
        """One line of the report about this run."""
        return (
            f"reference: {self.per_second:.1f} {unit} {when} ({name}, pgbench -c {self.clients}"
            f"{extra}); p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; {self.failed} failed"
        )


def pgbench(
    url: str,
    path: Path,
    clients: int,
    *,
    seconds: float = 0.0,
    transactions: int = 0,
    port: int | None = None,
) -> Pgbench:
    """pgbench with `clients` clients for `seconds` (or `transactions` each) over `path`."""
    target = make_url(url)
    args, env = _connection(target, port)
    logs = Path(tempfile.mkdtemp(prefix="cityhub-pgbench-"))
    length = ["-T", str(int(seconds))] if seconds else ["-t", str(transactions)]
    command = [
        _binary("pgbench"), "-n", *args, "-c", str(clients),
        "-j", str(min(clients, os.cpu_count() or 2)), *length, "-f", str(path),
        "-l", "--log-prefix", str(logs / "pgbench"), str(target.database),
    ]  # fmt: skip
    with ServerCpu(str(target.database)) as cpu:
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
    shutil.rmtree(logs, ignore_errors=True)
    return Pgbench(
        clients=clients,
        runs=len(latencies),
        per_second=float(tps.group(1)) if tps else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        failed=int(failed.group(1)) if failed else 0,
        server_cpu=cpu.seconds,
        server_seen=cpu.seen,
    )


def counted(url: str, path: Path, transactions: int) -> Counts:
    """What `transactions` runs of the script cost on the wire (one client, through the
    proxy), per run."""
    target = make_url(url)
    with CountingProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        before = proxy.snapshot()
        pgbench(url, path, 1, transactions=transactions, port=proxy.port)
        spent = proxy.snapshot() - before
    # pgbench's own connection: its start-up answer, and nothing else of ours.
    spent.round_trips -= spent.connections
    return spent


# How many more connections the server takes: max_connections less the reserved ones and
# those in use.
ROOM = (
    "SELECT current_setting('max_connections')::int"
    " - current_setting('superuser_reserved_connections')::int"
    " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
)
