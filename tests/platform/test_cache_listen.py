"""A serving process on PostgreSQL hears changes to the cached tables (LISTEN, migration
0040) instead of reading the cache version on every request; a revoked grant is still refused
by every process within one second, and a listener that stops vouching sends the requests
back to reading the version."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, update

from cityhub.app import create_app
from cityhub.identity.models import Channel
from cityhub.platform import cache_listen
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.platform.deadline import bounded

VERSION_READ = "SELECT cache_versions.version"


class Listening:
    """A second hub on the same database (another process), its listener and what it sent."""

    def __init__(self, api: Api, database: Database, sent: list[str]) -> None:
        self.api = api
        self.database = database
        self.sent = sent
        self.stop = asyncio.Event()
        self.listener = cache_listen.listener_for(database, enabled=True)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        assert self.listener is not None
        self.task = asyncio.create_task(self.listener.run(self.stop))
        await asyncio.wait_for(self.listener.listening.wait(), 10)

    async def halt(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task

    def version_reads(self) -> int:
        return sum(1 for s in self.sent if s.lstrip().startswith(VERSION_READ))


@pytest.fixture
async def other(settings: Settings, db: Database) -> AsyncIterator[Listening]:
    database = Database(db.url)
    sent: list[str] = []

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    transport = httpx.ASGITransport(app=create_app(settings, db=database))
    async with httpx.AsyncClient(transport=transport, base_url="http://other.test") as client:
        listening = Listening(Api(client), database, sent)
        yield listening
        await listening.halt()
    await database.dispose()


async def test_a_listening_process_refuses_a_revoked_grant_without_reading_the_version(
    api: Api, db: Database, other: Listening
) -> None:
    if db.is_sqlite:  # no LISTEN there: every request reads the version (test_cache.py)
        assert other.listener is None
        assert cache_listen.listener_for(other.database, enabled=True) is None
        return
    assert cache_listen.listener_for(other.database, enabled=False) is None
    city = await create_city(db)
    login = await create_channel(db)
    service = await create_service(db, city=city)
    grant = await create_grant(db, channel=login.channel, service=service)
    admin = await api.as_staff((await create_staff(db, city=city)).username, PASSWORD)
    caches = other.database.caches
    assert caches is not None
    # Vouched for as long as the test runs, however slow a shared machine makes the
    # listener's reads: the refusal below is then the announcement's (or a read's) doing.
    caches.fresh_for = 30.0
    await other.start()
    channel = await other.api.as_channel(login.client_id, login.secret)
    url = f"/v1/cities/{city.slug}/services"
    assert [s["code"] for s in (await channel.get(url))["items"]] == [service.code]
    await channel.get(url)

    # Revoked through the first hub: the second hears it and refuses, reading no version.
    await admin.delete(f"/v1/cities/{city.slug}/grants/{grant.id}")
    with bounded(1, "the listening hub refusing the revoked grant"):
        while True:
            answer = await channel.client.get(url, headers=channel.headers)
            if answer.status_code == 403:
                break
            assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == "city_not_granted"
    assert other.version_reads() == 0, "the listener vouched for the version"

    # A listener that stops no longer vouches: requests read the version again.
    await other.halt()
    assert not caches.vouched
    await channel.get(f"/v1/cities/{city.slug}/services", expect=403)
    assert other.version_reads() == 1


async def test_a_process_forgets_its_caches_when_it_commits_a_change_to_them(
    db: Database,
) -> None:
    login = await create_channel(db)
    caches = db.caches
    assert caches is not None
    async with db.unit_of_work() as session:
        await caches.get(session, "probe", 1, _one)
    async with db.unit_of_work() as session:
        assert await caches.get(session, "probe", 1, _two) == 1, "kept"
    caches.heard(caches.version or 0, read=True)  # as a listener would: no version read now
    async with db.unit_of_work() as session:
        await session.execute(
            update(Channel).where(Channel.id == login.channel.id).values(name="renamed")
        )
    async with db.unit_of_work() as session:
        assert await caches.get(session, "probe", 1, _two) == 2, "forgotten at the commit"
    caches.stop_vouching()


async def _one() -> int:
    return 1


async def _two() -> int:
    return 2
