"""Residents as channels know them: masked answers, verification, consent, the access log."""

from __future__ import annotations

import re

from sqlalchemy import select, text

from cityhub.identity.models import Channel, ChannelUser, Consent
from cityhub.outbox import OutboxEvent
from cityhub.platform.db import Database
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


async def test_one_person_through_two_channels_stays_two_until_proven(
    db: Database, api: Api
) -> None:
    first, second = await _channel(db, api), await _channel(db, api)
    await first.post("/v1/residents", json={"user_id": "alice-on-a"})
    await second.post("/v1/residents", json={"user_id": "alice-on-b", "phone": PHONE})
    await first.post("/v1/residents/alice-on-a/verification", json=VERIFY, expect=200)
    answer = await second.post("/v1/residents/alice-on-b/verification", json=VERIFY, expect=202)
    # The first record has no phone: only a channel where the person is linked can confirm.
    assert answer["link"]["method"] == "channel_confirmation" and not answer["verified"]
    async with db.unit_of_work() as session:
        links = (await session.scalars(select(ChannelUser))).all()
    assert len(links) == 2 and len({link.resident_id for link in links}) == 2
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
    consents = (await channel.get("/v1/residents/u1/consents"))["items"]
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


MASKED_ID = re.compile(r"310\*{11}\d{3}[\dX]")


async def test_every_answer_is_masked(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    answers = [
        await channel.post("/v1/residents", json={"user_id": "u1", "phone": "+86 138-1234-5678"}),
        await channel.post("/v1/residents", json={"user_id": "u1"}, expect=200),
        await channel.post("/v1/residents/u1/verification", json=VERIFY, expect=200),
        await channel.get("/v1/residents/u1"),
        await channel.post("/v1/residents", json={"user_id": "u1", "phone": PHONE}, expect=200),
    ]
    assert [a["phone"] for a in answers] == ["138****5678"] * 5
    assert [a["id_number"] for a in answers[:2]] == [None, None]
    assert all(MASKED_ID.fullmatch(a["id_number"]) for a in answers[2:])
    assert answers[2]["id_number"].endswith(ID[-4:])
    for answer in answers:
        assert PHONE not in str(answer) and ID not in str(answer) and "张三" not in str(answer)
    log = await channel.get("/v1/residents/u1/data-access")
    consents = (await channel.get("/v1/residents/u1/consents"))["items"]
    assert PHONE not in str(log) + str(consents) and ID not in str(log) + str(consents)


async def test_the_number_alone_does_not_link_a_user_to_a_person(db: Database, api: Api) -> None:
    first, second = await _channel(db, api), await _channel(db, api)
    await first.post("/v1/residents", json={"user_id": "alice"})
    await first.post("/v1/residents/alice/verification", json=VERIFY, expect=200)
    await second.post("/v1/residents", json={"user_id": "mallory"})
    problem = await second.post(
        "/v1/residents/mallory/verification", json={**VERIFY, "name": "李四"}, expect=409
    )
    assert (problem["code"], problem["field"]) == ("identity_mismatch", "name")
    assert not (await second.get("/v1/residents/mallory"))["verified"]
    async with db.unit_of_work() as session:
        links = (await session.scalars(select(ChannelUser).order_by(ChannelUser.id))).all()
        consents = (await session.scalars(select(Consent))).all()
    assert len({link.resident_id for link in links}) == 2  # not linked
    assert [c.channel_id for c in consents] == [links[0].channel_id]  # nothing half-written
    # ...and a re-verification by the first channel cannot rename the person either
    problem = await first.post(
        "/v1/residents/alice/verification", json={**VERIFY, "name": "李四"}, expect=409
    )
    assert (await first.get("/v1/residents/alice"))["name"] == "张*"


async def test_the_linked_person_sees_every_access(db: Database, api: Api) -> None:
    first, second = await _channel(db, api), await _channel(db, api)
    await first.post("/v1/residents", json={"user_id": "a"})
    await first.post("/v1/residents/a/verification", json=VERIFY, expect=200)
    await second.post("/v1/residents", json={"user_id": "b"})
    await second.get("/v1/residents/b")  # read before the link
    answer = await second.post("/v1/residents/b/verification", json=VERIFY, expect=202)
    await first.post(
        f"/v1/residents/a/link-requests/{answer['link']['id']}/confirmation", expect=200
    )
    log = await first.get("/v1/residents/a/data-access")
    seen = [(e["actor"], e["purpose"]) for e in log["items"]]
    names = [c.title() for c in await _channel_names(db)]
    assert seen == [
        (names[1], VERIFY["purpose"]),
        (names[1], "show the user their profile"),
        (names[0], VERIFY["purpose"]),
    ]
    assert (await second.get("/v1/residents/b/data-access"))["items"] == log["items"]


async def _channel_names(db: Database) -> list[str]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(Channel.slug).order_by(Channel.id))).all())


async def test_consents_belong_to_their_channel(db: Database, api: Api) -> None:
    first, second = await _channel(db, api), await _channel(db, api)
    for channel in (first, second):
        await channel.post("/v1/residents", json={"user_id": "u1"})
    given = await first.post(
        "/v1/residents/u1/consents", json={"scope": "notices", "purpose": "due-date reminders"}
    )
    again = await first.post(
        "/v1/residents/u1/consents", json={"scope": "notices", "purpose": "due-date reminders"}
    )
    assert again["id"] == given["id"]  # a live consent is kept as it is
    problem = await second.delete(f"/v1/residents/u1/consents/{given['id']}", expect=404)
    assert problem["code"] == "consent_not_found"
    assert (await second.get("/v1/residents/u1/consents"))["items"] == []
    for bad in ("99999999999999999999999", "0"):
        problem = await first.delete(f"/v1/residents/u1/consents/{bad}", expect=422)
        assert problem["field"] == "consent_id"
    await first.delete(f"/v1/residents/u1/consents/{given['id']}", expect=200)
    await first.delete(f"/v1/residents/u1/consents/{given['id']}", expect=200)  # already gone
    async with db.unit_of_work() as session:
        events = (await session.scalars(select(OutboxEvent))).all()
    assert [(e.topic, e.payload["consent_id"], e.payload["scope"]) for e in events] == [
        ("consent.withdrawn", given["id"], "notices")
    ]  # told once
    listed = (await first.get("/v1/residents/u1/consents"))["items"]
    assert [(c["id"], bool(c["withdrawn_at"])) for c in listed] == [(given["id"], True)]


async def test_a_number_typed_into_a_purpose_is_kept_masked(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    await channel.post("/v1/residents", json={"user_id": "u1"})
    purpose = f"verify {ID} and call {PHONE}"
    await channel.post(
        "/v1/residents/u1/verification", json={**VERIFY, "purpose": purpose}, expect=200
    )
    await channel.post("/v1/residents/u1/consents", json={"scope": "records", "purpose": purpose})
    async with db.unit_of_work() as session:
        dumped = ""
        for table in ("residents", "consents", "data_access", "audit_log", "outbox"):
            dumped += repr((await session.execute(text(f"SELECT * FROM {table}"))).all())
    assert ID[-4:] in dumped and ID not in dumped and PHONE not in dumped
    log = await channel.get("/v1/residents/u1/data-access")
    assert log["items"][0]["purpose"] == "verify 310***********" + ID[-4:] + " and call 138****5678"
