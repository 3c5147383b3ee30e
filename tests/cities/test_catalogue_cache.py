"""The catalogue's answers and the hospital of a booking are cached in each process and stay
right across processes: a change to a service bumps the caches' version in its transaction
(migration 0031), and another process's next request sees it. The answer's ETag lets a client
ask again for nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event, update

from cityhub.app import create_app
from cityhub.cities.models import Service
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, verified_users
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import create_channel


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


async def rename(db: Database, service: Service, name: str) -> None:
    """Rename a service as SQL by hand would (no hub process is told)."""
    async with db.unit_of_work() as session:
        await session.execute(update(Service).where(Service.id == service.id).values(name_en=name))


def page_reads(sent: list[str]) -> int:
    return sum(1 for s in sent if "FROM services" in s)


async def test_a_renamed_service_is_seen_by_every_process_and_the_etag_moves(
    api: Api, db: Database, other: tuple[Api, list[str]]
) -> None:
    second, sent = other
    city = await create_city(db)
    login = await create_channel(db)
    service = await create_service(db, city=city)
    await create_grant(db, channel=login.channel, service=service)
    here = await api.as_channel(login.client_id, login.secret)
    there = await second.as_channel(login.client_id, login.secret)
    url = f"/v1/cities/{city.slug}/services?limit=20"

    first = await there.get(url)
    etag = there.last.headers["ETag"] if there.last else ""
    reads = page_reads(sent)
    assert await there.get(url) == first
    assert page_reads(sent) == reads, "the second read is answered from the cache"
    assert await here.get(url) == first  # the other process's cache holds the same answer
    # The client that holds the page is told so, with no body.
    await there.get(url, headers={"If-None-Match": etag}, expect=304)
    assert there.last is not None and there.last.content == b""
    await there.get(url, headers={"If-None-Match": f'W/{etag}, "other"'}, expect=304)

    await rename(db, service, "Renamed by hand")
    for hub in (here, there):
        fresh = await hub.get(url, headers={"If-None-Match": etag}, expect=200)
        assert fresh["items"][0]["names"]["en"] == "Renamed by hand"
        assert hub.last is not None and hub.last.headers["ETag"] != etag


async def test_a_booking_sees_its_hospital_changed_in_another_process(
    api: Api, db: Database, other: tuple[Api, list[str]]
) -> None:
    second, _ = other
    world = await appt_world(db, api)
    there = await second.as_channel(world.login.client_id, world.login.secret)
    slots = (await world.session(places=5))["slots"]
    [one, two] = await verified_users(db, world.login, 2)
    url = world.url("/bookings")
    booked = await there.post(url, json={"user_id": one, "slot": slots[0]["id"]})
    assert booked["hospital_name"] == world.hospital.name_en
    await rename(db, world.hospital, "The renamed hospital")
    again = await there.post(url, json={"user_id": two, "slot": slots[0]["id"]})
    assert again["hospital_name"] == "The renamed hospital"
