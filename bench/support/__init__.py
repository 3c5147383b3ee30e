"""What the benchmarks share: a free port, percentiles, statements on the server's admin
database. (A folder, so that `make bench` does not run it as a benchmark.)"""

from __future__ import annotations

import socket

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cityhub.platform.db import Database


def free_port() -> int:
    """A TCP port nobody listens on, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values fall (0 for none)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


async def admin(server: str, statement: str) -> None:
    """Run one statement (CREATE / DROP DATABASE) on the server's `postgres` database."""
    db = Database(make_url(server).set(database="postgres").render_as_string(False))
    try:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await db.dispose()
