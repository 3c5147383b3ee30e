"""Idempotency-Key: a retry gets the first answer; another body under the same key is refused."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.db import Database
from cityhub.identity.models import ChannelUser
from tests.client import Api
from tests.identity.factories import create_channel


async def _users(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ChannelUser)) or 0)


async def test_same_key_same_body_replays_the_first_answer(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    key = {"Idempotency-Key": "register-u1"}
    first = await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    again = await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    assert again == first  # the same 201 and body, not the 200 of a second registration
    assert channel.last is not None and channel.last.headers["idempotent-replay"] == "true"
    assert await _users(db) == 1


async def test_same_key_other_body_is_refused(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    key = {"Idempotency-Key": "k1"}
    await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    problem = await channel.post("/v1/residents", json={"user_id": "u2"}, headers=key, expect=422)
    assert problem["field"] == "Idempotency-Key"
    assert problem["code"].startswith("idempotency_")
    assert await _users(db) == 1


async def test_keys_belong_to_their_caller(db: Database, api: Api) -> None:
    first, second = await create_channel(db), await create_channel(db)
    key = {"Idempotency-Key": "shared"}
    for login in (first, second):
        channel = await api.as_channel(login.client_id, login.secret)
        await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    assert await _users(db) == 2
