"""The unit of work: the one owner of a request's transaction, its idempotency claim, and the
unique violations it maps to 409 (and only those)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from cityhub.app import create_app
from cityhub.platform.clock import Clock, utcnow
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Unprocessable
from cityhub.platform.housekeeping import purge_idempotency_keys
from cityhub.platform.idempotency import IdempotencyDep, IdempotencyKey
from cityhub.platform.scheduler import JobContext
from cityhub.platform.uow import between_transactions
from tests.client import Api
from tests.identity.factories import create_channel
from tests.platform.deadline import bounded


class Probe:
    """Routes that hold a request in flight, fail after a step in between, or break a rule."""

    def __init__(self, app: Any) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.runs = 0

        @app.post("/v1/uow-probe/hold", status_code=201)
        async def hold(idem: IdempotencyDep) -> Any:
            self.runs += 1
            self.entered.set()
            await self.release.wait()
            return await idem.respond(201, {"run": self.runs})

        @app.post("/v1/uow-probe/fail-after-a-call", status_code=201)
        async def fail_after_a_call(session: SessionDep, idem: IdempotencyDep) -> Any:
            self.runs += 1
            async with between_transactions(session):
                pass  # the provider's answer
            if self.runs == 1:
                raise Unprocessable("the provider said no", code="provider_said_no")
            return await idem.respond(201, {"run": self.runs})

        @app.post("/v1/uow-probe/duplicate")
        async def duplicate(session: SessionDep) -> None:
            for _ in range(2):
                session.add(
                    IdempotencyKey(owner="o", key="k", request_hash="h", status_code=0, body={})
                )
            await session.flush()

        @app.post("/v1/uow-probe/missing-value")
        async def missing_value(session: SessionDep) -> None:
            session.add(
                IdempotencyKey(owner="o", key="k", request_hash="h", status_code=None, body={})
            )
            await session.flush()

        @app.post("/v1/uow-probe/db-during-a-call")
        async def db_during_a_call(session: SessionDep) -> None:
            async with between_transactions(session):
                await session.execute(text("SELECT 1"))


@pytest.fixture
async def probe(settings: Settings, db: Database) -> AsyncIterator[tuple[Probe, Api]]:
    app: Any = create_app(settings, db=db)
    found = Probe(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        login = await create_channel(db)
        yield found, await Api(client).as_channel(login.client_id, login.secret)


async def _claims_seen_from_outside(db: Database) -> int:
    """The keys another connection sees now (SQLite: a plain reader, which the request's
    write lock does not block)."""
    if db.is_sqlite:
        path = make_url(db.url).database
        assert path is not None
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0])
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(IdempotencyKey)) or 0)


async def _waiting_on_a_lock(db: Database) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


async def test_the_claim_is_part_of_the_request_and_a_second_request_gets_its_answer(
    probe: tuple[Probe, Api], db: Database
) -> None:
    found, channel = probe
    key = {"Idempotency-Key": "held"}
    first = asyncio.create_task(channel.post("/v1/uow-probe/hold", headers=key))
    with bounded(20, "the first request reaching its route"):
        await found.entered.wait()
    # Claimed, but not committed: a crash now would roll the claim back with the rest, and a
    # retry would run afresh instead of being told 409 idempotency_in_flight.
    assert await _claims_seen_from_outside(db) == 0
    second = asyncio.create_task(channel.post("/v1/uow-probe/hold", headers=key))
    if not db.is_sqlite:  # PostgreSQL: the second waits on the key's unique index
        with bounded(20, "the second request waiting on the key"):
            while await _waiting_on_a_lock(db) < 1:
                pass
    found.release.set()
    answers = await asyncio.gather(first, second)
    assert answers == [{"run": 1}, {"run": 1}]  # the second got the stored answer
    assert found.runs == 1
    assert await _claims_seen_from_outside(db) == 1


async def test_a_request_that_fails_after_a_call_in_between_lets_go_of_its_claim(
    probe: tuple[Probe, Api], db: Database
) -> None:
    found, channel = probe
    key = {"Idempotency-Key": "after-a-call"}
    problem = await channel.post("/v1/uow-probe/fail-after-a-call", headers=key, expect=422)
    assert problem["code"] == "provider_said_no"
    assert await _claims_seen_from_outside(db) == 0  # committed in between, then let go of
    assert await channel.post("/v1/uow-probe/fail-after-a-call", headers=key) == {"run": 2}


async def test_only_a_unique_violation_is_a_concurrent_change(probe: tuple[Probe, Api]) -> None:
    _found, channel = probe
    raced = await channel.post("/v1/uow-probe/duplicate", expect=409)
    assert raced["code"] == "concurrent_change"
    bug = await channel.post(
        "/v1/uow-probe/missing-value", headers={"X-Request-ID": "bug-1"}, expect=500
    )
    assert (bug["code"], bug["request_id"]) == ("internal_error", "bug-1")
    assert "IntegrityError" not in str(bug) and "idempotency_keys" not in str(bug)


async def test_the_database_is_not_used_while_a_provider_answers(
    probe: tuple[Probe, Api],
) -> None:
    _found, channel = probe
    problem = await channel.post("/v1/uow-probe/db-during-a-call", expect=500)
    assert problem["code"] == "internal_error"


async def test_the_hourly_job_forgets_keys_past_their_retention(
    probe: tuple[Probe, Api], db: Database, settings: Settings, hub_clock: Clock
) -> None:
    found, channel = probe
    found.release.set()
    await channel.post("/v1/uow-probe/hold", headers={"Idempotency-Key": "old"})
    hub_clock.advance(hours=47)
    await channel.post("/v1/uow-probe/hold", headers={"Idempotency-Key": "young"})
    hub_clock.advance(hours=1)  # "old" is 48 hours old now: its retention is over
    ctx = JobContext(db, settings, None, utcnow(), ZoneInfo("UTC"))
    assert await purge_idempotency_keys(ctx) == {"deleted": 1}
    async with db.unit_of_work() as session:
        kept = (await session.scalars(select(IdempotencyKey.key))).all()
    assert list(kept) == ["young"]


def test_nothing_but_the_unit_of_work_ends_a_transaction() -> None:
    import re
    from pathlib import Path

    import cityhub

    root = Path(cityhub.__file__).parent
    ends = re.compile(r"\.(commit|rollback)\(\)")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if "migrations" not in path.parts and path.name != "uow.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if ends.search(line) and not line.lstrip().startswith("#")
    ]
    assert found == []
