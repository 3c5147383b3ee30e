"""Schema migrations (Alembic), run the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from cityhub.platform.db import Database

HERE = Path(__file__).parent


def config() -> Config:
    """The Alembic configuration of the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def head() -> str | None:
    """The newest revision the code knows (several branches' heads joined by "+", until they
    are merged into one line)."""
    heads = ScriptDirectory.from_config(config()).get_heads()
    return "+".join(sorted(heads)) or None


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _current(connection: Connection) -> str | None:
    return "+".join(sorted(MigrationContext.configure(connection).get_current_heads())) or None


def _differences(connection: Connection) -> list[Any]:
    from cityhub.models import metadata  # every table, imported only when asked

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the database's schema up to `revision`."""
    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade(db: Database, revision: str) -> None:
    """Take the database's schema back to `revision` (`base`: no tables at all)."""
    async with db.engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def differences(db: Database) -> list[Any]:
    """How the database's schema differs from the models (empty: the migrations match)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_differences)


async def current(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)
