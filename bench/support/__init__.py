"""What the benchmarks share: a free port, percentiles, fresh databases on the server, the
machine's load. (A folder, so that `make bench` does not run it as a benchmark.)"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests' factories

from cityhub.platform.db import Database  # noqa: E402

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def server() -> str:
    """The PostgreSQL server the benches create their databases on."""
    return os.environ.get("CITYHUB_BENCH_POSTGRES_URL", DEFAULT_SERVER)


def free_port() -> int:
    """A TCP port nobody listens on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values fall (0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def load_average() -> str:
    """The machine's load average (1, 5, 15 minutes): other work shares these cores."""
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


async def admin(server_url: str, statement: str) -> Any:
    """Run one statement (CREATE / DROP DATABASE, a setting) on the server's `postgres`
    database; its first value, if any."""
    db = Database(make_url(server_url).set(database="postgres").render_as_string(False))
    try:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.execute(text(statement))
            return result.scalar() if result.returns_rows else None
    finally:
        await db.dispose()


@contextmanager
def fresh_databases(*names: str) -> Iterator[list[str]]:
    """New empty databases on the server, dropped afterwards; their URLs."""
    import asyncio

    # A bench stopped with SIGTERM still drops its databases and stops its hub.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = make_url(server())
    made = []
    try:
        for name in names:
            asyncio.run(admin(server(), f'CREATE DATABASE "{name}"'))
            made.append(name)
        yield [base.set(database=n).render_as_string(False) for n in names]
    finally:
        for name in made:
            asyncio.run(admin(server(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
