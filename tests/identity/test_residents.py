"""Residents as channels know them: masked answers, verification, consent, the access log."""

from __future__ import annotations

import re

from sqlalchemy import select, text

from cityhub.db import Database
from cityhub.identity.models import ChannelUser
from cityhub.outbox import OutboxEvent
from tests.client import Api
from tests.identity.factories import create_channel, id_number

PHONE = "13812345678"
ID = id_number(123)
VERIFY = {"name": "张三", "id_number": ID, "purpose": "实名认证 for bill payments"}


async def _channel(db: Database, api: Api) -> Api:
    login = await create_channel(db)
    return await api.as_channel(login.client_id, login.secret)


async def test_register_masks_and_repeats(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    created = await channel.post("/v1/residents", json={"user_id": "u1", "phone": PHONE})
    assert created["phone"] == "138****5678" and not created["verified"]
    again = await channel.post("/v1/residents", json={"user_id": "u1", "phone": PHONE}, expect=200)
    assert again["user_id"] == "u1"
    verified = await channel.post("/v1/residents/u1/verification", json=VERIFY, expect=200)
    assert verified["verified"] and verified["name"] == "张*"
    assert re.fullmatch(r"\d{3}\*{11}\d{3}[\dX]", verified["id_number"])
    shown = await channel.get("/v1/residents/u1")
    assert shown["id_number"] == verified["id_number"]
    assert ID not in str(shown) and PHONE not in str(shown)


async def test_bad_numbers_name_the_field(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    problem = await channel.post(
        "/v1/residents", json={"user_id": "u1", "phone": "12345"}, expect=422
    )
    assert problem["field"] == "phone"
    await channel.post("/v1/residents", json={"user_id": "u1"})
    wrong_digit = ID[:-1] + ("0" if ID[-1] != "0" else "1")
    no_date = "310101" + "19901332" + "123"
    for bad, words in ((wrong_digit, "check digit"), (no_date + "0", "birth date")):
        problem = await channel.post(
            "/v1/residents/u1/verification", json={**VERIFY, "id_number": bad}, expect=422
        )
        assert problem["field"] == "id_number" and words in problem["detail"]
    shown = await channel.get("/v1/residents/u1")
    assert not shown["verified"]  # nothing half-written


async def test_one_person_through_two_channels_is_one_resident(db: Database, api: Api) -> None:
    first, second = await _channel(db, api), await _channel(db, api)
    await first.post("/v1/residents", json={"user_id": "alice-on-a"})
    await second.post("/v1/residents", json={"user_id": "alice-on-b", "phone": PHONE})
    await first.post("/v1/residents/alice-on-a/verification", json=VERIFY, expect=200)
    await second.post("/v1/residents/alice-on-b/verification", json=VERIFY, expect=200)
    async with db.unit_of_work() as session:
        links = (await session.scalars(select(ChannelUser))).all()
    assert len(links) == 2 and len({link.resident_id for link in links}) == 1
    # ...and neither channel can read the other's user
    problem = await first.get("/v1/residents/alice-on-b", expect=404)
    assert problem["code"] == "resident_not_found"
    await second.get("/v1/residents/alice-on-a/consents", expect=404)


async def test_consent_and_the_access_log(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    await channel.post("/v1/residents", json={"user_id": "u1"})
    await channel.post("/v1/residents/u1/verification", json=VERIFY, expect=200)
    given = await channel.post(
        "/v1/residents/u1/consents", json={"scope": "records", "purpose": "show my fines"}
    )
    bad = await channel.post(
        "/v1/residents/u1/consents", json={"scope": "everything", "purpose": "all"}, expect=422
    )
    assert bad["field"] == "scope"
    consents = await channel.get("/v1/residents/u1/consents")
    assert {c["scope"] for c in consents} == {"identity", "records"}
    withdrawn = await channel.delete(f"/v1/residents/u1/consents/{given['id']}", expect=200)
    assert withdrawn["withdrawn_at"]
    async with db.unit_of_work() as session:
        topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert "consent.withdrawn" in topics
    await channel.get("/v1/residents/u1")
    log = await channel.get("/v1/residents/u1/data-access")
    purposes = [entry["purpose"] for entry in log["items"]]
    assert purposes[0] == "show the user their profile"  # newest first
    assert VERIFY["purpose"] in purposes
    assert all(entry["actor_type"] == "channel" for entry in log["items"])


async def test_personal_numbers_are_not_stored_in_clear(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    await channel.post("/v1/residents", json={"user_id": "u1", "phone": PHONE})
    await channel.post("/v1/residents/u1/verification", json=VERIFY, expect=200)
    async with db.unit_of_work() as session:
        rows = (await session.execute(text("SELECT * FROM residents"))).all()
        audit_rows = (await session.execute(text("SELECT details FROM audit_log"))).all()
    dumped = repr(rows) + repr(audit_rows)
    assert rows and ID not in dumped and PHONE not in dumped and "张三" not in dumped
