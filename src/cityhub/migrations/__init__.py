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
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhub.platform.db import Database, declared_for

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

    def include(item: Any, _name: str | None, _type: str, reflected: bool, _to: Any) -> bool:
        # Not an item the models declare only for another database (the SQLite-only
        # UNIQUE (city_id, id) of the tenant tables, `db.TenantMixin`).
        return reflected or declared_for(item, connection.dialect.name)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include}
    )
    return list(compare_metadata(context, metadata))


async def _sqlite_foreign_keys(connection: AsyncConnection, on: bool) -> None:
    # A PRAGMA that SQLite ignores inside a transaction: sent on the driver's connection before
    # SQLAlchemy begins one (the engine's BEGIN IMMEDIATE would come first otherwise).
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows whose foreign keys point at nothing: {broken}")


async def _migrate(db: Database, step: Any, revision: str) -> None:
    """Run one migration step in one transaction. On SQLite, with the foreign keys unenforced
    while tables are rebuilt (batch mode drops and recreates a table, which would otherwise
    delete or cascade to the rows pointing at it), and every foreign key checked before the
    commit: SQLite's own procedure for changing a table's schema."""
    async with db.engine.connect() as connection:
        if db.is_sqlite:
            await _sqlite_foreign_keys(connection, False)
        try:
            async with connection.begin():
                await connection.run_sync(step, revision)
                if db.is_sqlite:
                    await connection.run_sync(_check_foreign_keys)
        finally:
            if db.is_sqlite:
                await _sqlite_foreign_keys(connection, True)


async def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the database's schema up to `revision`."""
    await _migrate(db, _upgrade, revision)


async def downgrade(db: Database, revision: str) -> None:
    """Take the database's schema back to `revision` (`base`: no tables at all)."""
    await _migrate(db, _downgrade, revision)


async def differences(db: Database) -> list[Any]:
    """How the database's schema differs from the models (empty: the migrations match)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_differences)


async def current(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current)
