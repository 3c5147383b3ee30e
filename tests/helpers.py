"""Helpers shared across the tests: time on the hub's clock (`move_past`, `at_local_time`),
where the test PostgreSQL server is, and a statement run on it outside any database
(CREATE/DROP DATABASE)."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cityhub.platform.clock import Clock
from cityhub.platform.db import Database

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def move_past(clock: Clock, moment: dt.datetime, *, by: float = 1.0) -> None:
    """Time passes: move the hub's clock to `by` seconds after `moment` (never back), instead of
    rewriting the timestamps of rows."""
    clock.advance(seconds=max(0.0, (moment - clock.now()).total_seconds() + by))


def at_local_time(clock: Clock, zone: str, hour: int, minute: int = 0) -> dt.datetime:
    """Move the hub's clock back (by less than a day) to the latest `hour:minute` in a zone, and
    let it tick from there; that moment. For a test of the time of day, which would otherwise
    pass or fail with the hour it runs at. Back, not forward: what the test signed in with
    (sessions, tokens) stays valid."""
    now = clock.now().astimezone(ZoneInfo(zone))
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if moment > now:
        moment -= dt.timedelta(days=1)
    clock.advance(seconds=(moment - clock.now()).total_seconds())
    return moment


def postgres_server_url() -> str:
    """The URL of the PostgreSQL server tests create their databases on."""
    url = os.environ.get("CITYHUB_TEST_POSTGRES_URL", DEFAULT_PG)
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


async def postgres_admin(url: str, statement: str) -> None:
    """Run `statement` on the server of `url`, in its `postgres` database, autocommitted."""
    admin = Database(make_url(url).set(database="postgres").render_as_string(False))
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()
