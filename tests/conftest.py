"""Fixtures: a real database per test (SQLite or PostgreSQL), the app, and API clients.

`--db sqlite` (default) gives each test its own copy of a migrated SQLite file.
`--db postgres` creates one database for the run on the server of `CITYHUB_TEST_POSTGRES_URL`
(default: 127.0.0.1:5432), migrates it, empties every table after each test, and drops it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from cityhub import migrations
from cityhub.app import create_app
from cityhub.cities.models import STANDARD_CATEGORIES, ServiceCategory
from cityhub.models import metadata
from cityhub.platform import clock as clocks
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.helpers import postgres_admin, postgres_server_url


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("CITYHUB_TEST_DB", "sqlite"),
        choices=("sqlite", "postgres"),
        help="the database the suite runs on",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"cityhub database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.config.getoption("--db")
    return kind


@pytest.fixture(scope="session")
async def template(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A migrated database for the run: a file to copy (SQLite) or a URL (PostgreSQL)."""
    if db_kind == "sqlite":
        path = tmp_path_factory.mktemp("db") / "template.sqlite3"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await migrations.upgrade(db)
        await db.dispose()  # the last connection to close folds the WAL into the file
        yield str(path)
        return
    server = postgres_server_url()
    name = f"cityhub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await postgres_admin(server, f'CREATE DATABASE "{name}"')
    url = make_url(server).set(database=name).render_as_string(False)
    db = Database(url)
    await migrations.upgrade(db)
    await db.dispose()
    try:
        yield url
    finally:
        await postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_kind: str, template: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database for one test."""
    if db_kind == "sqlite":
        path = tmp_path / "cityhub.sqlite3"
        shutil.copyfile(template, path)
        database = Database(f"sqlite+aiosqlite:///{path}")
        yield database
        await database.dispose()
        return
    database = Database(template, pool_size=5)
    yield database
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # What the migrations write, as a fresh install has it (SQLite copies it with the file).
        await conn.execute(
            insert(ServiceCategory),
            [
                {"code": c, "position": p, "name_zh_hans": hans, "name_zh_hant": hant,
                 "name_en": en, "active": True}
                for c, p, hans, hant, en in STANDARD_CATEGORIES
            ],
        )  # fmt: skip
    await database.dispose()


@pytest.fixture(autouse=True)
def hub_clock() -> Iterator[Clock]:
    """The hub's clock, for a test to move or pin (`hub_clock.advance(minutes=5)`) instead of
    rewriting timestamps in tables; back to the system's clock after every test."""
    clocks.clock.reset()
    yield clocks.clock
    clocks.clock.reset()


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    """Test settings: the test's database, no embedded worker (tests drive the outbox); the
    webhook receivers and providers that tests serve on 127.0.0.1 allowed, as an operator
    allows an internal host (tests of the SSRF guard set their own allow-list)."""
    return Settings(
        env="test",
        data=tmp_path / "data",
        database_url=db.url,
        embedded_worker=False,
        log_json=True,
        connector_allow_hosts="127.0.0.1",
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> Any:
    return create_app(settings, db=db)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[Api]:
    """An anonymous API client (see `tests.client.Api` for signing in)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield Api(client)
