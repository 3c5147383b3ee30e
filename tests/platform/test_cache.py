"""The in-process caches of channels, cities and grants stay right across processes: a change
bumps the version in its own transaction, and every process's next request sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.platform.deadline import bounded


@pytest.fixture
async def other(settings: Settings, db: Database) -> AsyncIterator[tuple[Api, list[str]]]:
    """A second hub on the same database, with caches of its own (another process), and the
    statements it sends."""
    database = Database(db.url)
    sent: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    transport = httpx.ASGITransport(app=create_app(settings, db=database))
    async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as client:
        yield Api(client), sent
    await database.dispose()


def grant_reads(sent: list[str]) -> int:
    """How many times the channel's grants were read from the database."""
    return sum(1 for s in sent if s.lstrip().startswith("SELECT grants.city_id, grants.service_id"))


async def test_a_revoked_grant_is_refused_by_every_process_at_once(
    api: Api, db: Database, other: tuple[Api, list[str]]
) -> None:
    second, sent = other
    city = await create_city(db)
    login = await create_channel(db)
    service = await create_service(db, city=city)
    grant = await create_grant(db, channel=login.channel, service=service)
    admin = await api.as_staff((await create_staff(db, city=city)).username, PASSWORD)
    channel = await second.as_channel(login.client_id, login.secret)
    url = f"/v1/cities/{city.slug}/services"

    assert [s["code"] for s in (await channel.get(url))["items"]] == [service.code]
    reads = grant_reads(sent)
    await channel.get(url)
    assert grant_reads(sent) == reads, "the second call reads the grants from the cache"

    # Revoked through the first hub; the second refuses from its next request on.
    await admin.delete(f"/v1/cities/{city.slug}/grants/{grant.id}")
    with bounded(1, "the second hub refusing the revoked grant"):
        while True:
            answer = await channel.client.get(url, headers=channel.headers)
            if answer.status_code == 403:
                break
            assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == "city_not_granted"


async def test_every_change_bumps_the_version_in_its_transaction(db: Database) -> None:
    async def version() -> int:
        async with db.unit_of_work() as session:
            found = await session.scalar(
                text("SELECT version FROM cache_versions WHERE name = 'access'")
            )
            return int(found or 0)

    before = await version()
    city = await create_city(db)
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=await create_service(db, city=city))
    # The city, the channel, the service (migration 0031: services are cached too), the grant.
    assert await version() == before + 4
    with pytest.raises(LookupError):  # a change rolled back leaves the version where it was
        async with db.unit_of_work() as session:
            await session.execute(text("UPDATE channels SET name = 'renamed'"))
            raise LookupError
    assert await version() == before + 4


async def test_a_cached_row_read_again_after_a_rollback_needs_no_sql(db: Database) -> None:
    """A refused form rolls back (expiring every row) and reads the city again for its page:
    the cached row attached again is filled from the cache, not lazily loaded (which async
    code cannot do)."""
    from cityhub.cities.models import City
    from cityhub.platform import cache

    city = await create_city(db)
    async with db.unit_of_work() as session:
        first = await session.get(City, city.id)
        assert first is not None
        kept = cache.snapshot(first)
    async with db.unit_of_work() as session:
        row = await cache.attach(session, kept)
        await session.rollback()  # everything in the session expired
        again = await cache.attach(session, kept)
        assert again is row
        assert again.slug == city.slug and again.timezone == city.timezone  # no lazy load
