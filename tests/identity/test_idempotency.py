"""Idempotency-Key: a retry gets the first answer; another body under the same key is refused."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.cities.models import Service
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import ChannelUser
from cityhub.platform.db import Database
from tests.cities.factories import create_category, create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff


async def _count(db: Database, model: type[ChannelUser] | type[Service]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_same_key_same_body_replays_the_first_answer(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    key = {"Idempotency-Key": "register-u1"}
    first = await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    assert channel.last is not None and "idempotent-replay" not in channel.last.headers
    again = await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    assert again == first  # the same 201 and body, not the 200 of a second registration
    assert channel.last is not None and channel.last.headers["idempotent-replay"] == "true"
    assert channel.last.headers["content-type"].startswith("application/json")
    assert await _count(db, ChannelUser) == 1
    # without a key, the same request is simply a second registration
    await channel.post("/v1/residents", json={"user_id": "u1"}, expect=200)


async def test_same_key_other_body_is_refused(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    key = {"Idempotency-Key": "k1"}
    await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key)
    problem = await channel.post("/v1/residents", json={"user_id": "u2"}, headers=key, expect=422)
    assert (problem["code"], problem["field"]) == ("idempotency_mismatch", "Idempotency-Key")
    other_route = await channel.post(
        "/v1/residents/u1/consents",
        json={"scope": "notices", "purpose": "reminders"},
        headers=key,
        expect=422,
    )
    assert other_route["code"] == "idempotency_mismatch"
    assert await _count(db, ChannelUser) == 1
    assert (await channel.get("/v1/residents/u1/consents"))["items"] == []


async def test_keys_belong_to_their_caller(db: Database, api: Api) -> None:
    first, second = await create_channel(db), await create_channel(db)
    key = {"Idempotency-Key": "shared"}
    answers = []
    for login in (first, second):
        channel = await api.as_channel(login.client_id, login.secret)
        answers.append(await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key))
        assert channel.last is not None and "idempotent-replay" not in channel.last.headers
    assert await _count(db, ChannelUser) == 2
    async with db.unit_of_work() as session:
        residents = (await session.scalars(select(ChannelUser.resident_id))).all()
    assert len(set(residents)) == 2
    # ...and a key with another body by the second channel does not disturb the first one's
    channel = await api.as_channel(first.client_id, first.secret)
    assert await channel.post("/v1/residents", json={"user_id": "u1"}, headers=key) == answers[0]


async def test_staff_creations_replay_too(db: Database, api: Api) -> None:
    city = await create_city(db)
    await create_category(db)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    body = {
        "code": "gas",
        "category": "payments",
        "kind": "bill",
        "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
        "provider": "Gas Co",
        "connector": "simulator:gas",
    }
    key = {"Idempotency-Key": "create-gas"}
    url = f"/v1/cities/{city.slug}/services"
    first = await staff.post(url, json=body, headers=key)
    again = await staff.post(url, json=body, headers=key)  # not 409 service_exists
    assert again == first
    assert staff.last is not None and staff.last.headers["idempotent-replay"] == "true"
    assert await _count(db, Service) == 1
    async with db.unit_of_work() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert list(actions).count("service.create") == 1  # audited once
    conflict = await staff.post(url, json=body, expect=409)  # a retry without the key
    assert conflict["code"] == "service_exists"


async def test_a_failed_request_does_not_keep_its_key(db: Database, api: Api) -> None:
    city = await create_city(db)
    admin = await create_staff(db, city=city)
    staff = await api.as_staff(admin.username, PASSWORD)
    body = {
        "code": "gas",
        "category": "utilities",
        "kind": "bill",
        "names": {"zh-Hans": "燃气", "zh-Hant": "燃氣", "en": "Gas"},
        "provider": "Gas Co",
        "connector": "simulator:gas",
    }
    key = {"Idempotency-Key": "early"}
    url = f"/v1/cities/{city.slug}/services"
    problem = await staff.post(url, json=body, headers=key, expect=422)  # no such category yet
    assert problem["code"] == "unknown_category"
    await create_category(db, code="utilities")
    await staff.post(url, json=body, headers=key)  # the retry runs afresh
    assert await _count(db, Service) == 1
