"""Helpers shared by the fixtures and the tests that make databases of their own: where the test
PostgreSQL server is, and a statement run on it outside any database (CREATE/DROP DATABASE)."""

from __future__ import annotations

import os

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cityhub.platform.db import Database

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


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
