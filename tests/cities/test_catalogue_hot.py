"""A channel's repeated catalogue read is answered before routing (`cities/catalogue_hot.py`),
with the bytes and ETag of the full read, only while the caches' version stands: a revoked
grant, an expired token and a spent rate limit are answered as the full read answers them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from cityhub.app import create_app
from cityhub.cities.catalogue_hot import current_version
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, SECRET, create_channel, create_staff


async def _hub(settings: Settings, db: Database, sent: list[str]) -> AsyncIterator[Api]:
    database = Database(db.url)

    @event.listens_for(database.engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    transport = httpx.ASGITransport(app=create_app(settings, db=database))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield Api(client)
    await database.dispose()


@pytest.fixture
async def recorded(settings: Settings, db: Database) -> AsyncIterator[tuple[Api, list[str]]]:
    """A hub whose statements through SQLAlchemy are recorded."""
    sent: list[str] = []
    async for api in _hub(settings, db, sent):
        yield api, sent


async def _granted(db: Database) -> tuple[Any, Any, Any]:
    city = await create_city(db)
    login = await create_channel(db)
    for n in range(3):
        service = await create_service(db, city=city, code=f"svc-{n}")
        await create_grant(db, channel=login.channel, service=service)
    return city, login, service


async def test_a_repeated_read_sends_only_the_version_and_answers_the_same_bytes(
    db: Database, recorded: tuple[Api, list[str]]
) -> None:
    api, sent = recorded
    city, login, _ = await _granted(db)
    channel = await api.as_channel(login.client_id, SECRET)
    url = f"/v1/cities/{city.slug}/services?limit=2"
    first = await channel.get(url)
    assert channel.last is not None
    body, etag = channel.last.content, channel.last.headers["ETag"]
    assert [s["code"] for s in first["items"]] == ["svc-0", "svc-1"]
    before = len(sent)
    again = await channel.get(url)
    assert channel.last is not None
    assert channel.last.content == body and channel.last.headers["ETag"] == etag
    assert channel.last.headers["content-type"] == "application/json"
    assert channel.last.headers["x-request-id"]  # the middleware outside still runs
    assert again == first
    # Nothing but the version (on SQLite through SQLAlchemy; on PostgreSQL on the driver).
    statements = [s for s in sent[before:] if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert all("cache_versions" in s for s in statements), statements
    await channel.get(url, headers={"If-None-Match": etag}, expect=304)
    assert channel.last is not None and channel.last.content == b""
    # Another page, another request: answered in full, then kept too.
    following = await channel.get(f"{url}&cursor={first['next_cursor']}")
    assert [s["code"] for s in following["items"]] == ["svc-2"]


async def test_a_revoked_grant_is_refused_at_once_after_a_kept_answer(
    db: Database, api: Api, recorded: tuple[Api, list[str]]
) -> None:
    hub, _ = recorded
    city, login, service = await _granted(db)
    channel = await hub.as_channel(login.client_id, SECRET)
    url = f"/v1/cities/{city.slug}/services"
    await channel.get(url)
    await channel.get(url)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)  # another process revokes
    grants = await staff.get(f"/v1/cities/{city.slug}/grants")
    for grant in grants["items"]:
        await staff.delete(f"/v1/cities/{city.slug}/grants/{grant['id']}")
    refused = await channel.get(url, expect=403)
    assert refused["code"]


async def test_an_expired_token_is_refused_after_a_kept_answer(
    db: Database, recorded: tuple[Api, list[str]], hub_clock: Clock, settings: Settings
) -> None:
    api, _ = recorded
    city, login, _ = await _granted(db)
    channel = await api.as_channel(login.client_id, SECRET)
    url = f"/v1/cities/{city.slug}/services"
    await channel.get(url)
    await channel.get(url)
    old = dict(channel.headers)
    hub_clock.advance(seconds=settings.token_ttl_seconds + 1)
    answer = await api.client.get(url, headers=old)
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"


async def test_kept_answers_count_against_the_rate_limit(settings: Settings, db: Database) -> None:
    city, login, _ = await _granted(db)
    limited = settings.model_copy(update={"rate_limit": "3/minute"})
    async for api in _hub(limited, db, []):
        channel = await api.as_channel(login.client_id, SECRET)
        url = f"/v1/cities/{city.slug}/services"
        for left in (2, 1, 0):
            await channel.get(url)
            assert channel.last is not None
            assert channel.last.headers["RateLimit"].split(";")[1] == f"r={left}"
        problem = await channel.get(url, expect=429)
        assert problem["code"] == "rate_limited"


async def test_the_version_the_listener_vouches_for_is_not_read_again(db: Database) -> None:
    database = Database(db.url)
    try:
        caches = database.caches
        assert caches is not None
        read = await current_version(database)  # no listener: the counter is read
        caches.heard(read + 1000, read=True)  # the listener's figure, while it vouches for it
        assert await current_version(database) == read + 1000
        caches.stop_vouching()  # the listener lost its connection: read the counter again
        assert await current_version(database) == read
    finally:
        await database.dispose()
