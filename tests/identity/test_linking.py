"""A name and an identity number prove nothing: verifying against a population registry,
identity levels, and linking to a known person only on proof of possession (issue 12 §2).

Each attack is played as an attacker who holds a victim's leaked name and number and a phone
and a channel of their own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, update

from cityhub.identity import linking
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import ChannelUser, LinkProof, Resident
from cityhub.lottery.models import ApplicationStatus, LotteryApplication
from cityhub.outbox import OutboxEvent
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import Person
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel, last_code, prove_link
from tests.lottery.factories import LotteryWorld, create_round, eligible, lottery_world
from tests.outbox_helpers import Receiver, drain
from tests.queries.factories import query_world
from tests.simulators.fixtures import Sim

ATTACKER_PHONE = "13900000001"
HOOK_SECRET = "whsec-identity-tests"


def claim(person: Person, city: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": person.name,
        "id_number": person.id_number,
        "purpose": "real-name check",
        "city": city,
        **extra,
    }


def texts_to(sim: Sim, phone: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sim.control.get(
        "/sms/sim-sms/messages", params={"to": phone}
    ).json()["messages"]
    return messages


async def victim(channel: Api, person: Person, city: str, user_id: str = "victim") -> None:
    """The person, known to the hub through `channel` with their own phone."""
    await channel.post("/v1/residents", json={"user_id": user_id, "phone": person.phone})
    verified = await channel.post(
        f"/v1/residents/{user_id}/verification", json=claim(person, city), expect=200
    )
    assert verified["identity_level"] == "authority_checked"


async def attacker(channel: Api, person: Person, city: str) -> dict[str, Any]:
    """Another channel's user, with a phone of their own and the person's leaked name and
    number: the hub answers 202 and links nobody."""
    await channel.post("/v1/residents", json={"user_id": "mallory", "phone": ATTACKER_PHONE})
    answer: dict[str, Any] = await channel.post(
        "/v1/residents/mallory/verification", json=claim(person, city), expect=202
    )
    return answer


async def second_channel(db: Database, api: Api, services: list[Any], **kw: Any) -> Api:
    login = await create_channel(db, **kw)
    for service in services:
        await create_grant(db, channel=login.channel, service=service)
    return await api.as_channel(login.client_id, login.secret)


async def test_a_leaked_name_and_number_read_no_records_and_the_code_goes_to_the_records_phone(
    db: Database, api: Api, sim: Sim
) -> None:
    world = await query_world(db, api)
    person = sim.world.people[3]
    await victim(world.channel, person, world.city.slug)
    other = await second_channel(db, api, list(world.services.values()))
    answer = await attacker(other, person, world.city.slug)
    # The caller stays a separate, unlinked resident with no level and no identity.
    assert (answer["identity_level"], answer["verified"], answer["id_number"]) == (
        "none",
        False,
        None,
    )
    link = answer["link"]
    assert link["method"] == "sms_code" and link["status"] == "pending"
    assert link["phone"] == person.phone[:3] + "****" + person.phone[-4:] != "139****0001"
    assert link["demo_code"] is None  # not a demo hub: the code is only in the text message
    # The code went to the phone on the person's record, never to the caller's.
    assert len(texts_to(sim, person.phone)) == 1 and texts_to(sim, ATTACKER_PHONE) == []
    await other.post(
        "/v1/residents/mallory/consents", json={"scope": "records", "purpose": "my records"}
    )
    for code in ("social-insurance", "housing-fund"):
        problem = await other.post(
            world.url(code), json={"user_id": "mallory", "params": {}}, expect=403
        )
        assert (problem["code"], problem["field"]) == ("verification_required", "user_id")
        assert (problem["level"], problem["required"]) == ("none", "authority_checked")
    async with db.unit_of_work() as session:
        links = (await session.scalars(select(ChannelUser).order_by(ChannelUser.id))).all()
    assert len({link.resident_id for link in links}) == 2
    # A guessed code is not a link: five tries, then the request is used up.
    for _ in range(4):
        problem = await other.post(
            f"/v1/residents/mallory/link-requests/{link['id']}/code",
            json={
                "code": "000000" if last_code(sim.control, person.phone) != "000000" else "111111"
            },
            expect=422,
        )
        assert (problem["code"], problem["field"]) == ("code_wrong", "code")
    problem = await other.post(
        f"/v1/residents/mallory/link-requests/{link['id']}/code",
        json={"code": "999999" if last_code(sim.control, person.phone) != "999999" else "888888"},
        expect=422,
    )
    assert problem["code"] == "code_attempts_used"
    problem = await other.post(
        f"/v1/residents/mallory/link-requests/{link['id']}/code",
        json={"code": last_code(sim.control, person.phone)},
        expect=422,
    )  # even the right code, now
    assert problem["code"] == "code_attempts_used"
    await other.post(world.url("social-insurance"), json={"user_id": "mallory"}, expect=403)


async def test_link_codes_are_limited_per_person_and_per_channel(
    db: Database, api: Api, sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await query_world(db, api)
    person = sim.world.people[4]
    await victim(world.channel, person, world.city.slug)
    other = await second_channel(db, api, list(world.services.values()))
    await other.post("/v1/residents", json={"user_id": "mallory"})
    for _ in range(linking.PER_PERSON):
        await other.post(
            "/v1/residents/mallory/verification", json=claim(person, world.city.slug), expect=202
        )
    response = await other.client.post(
        "/v1/residents/mallory/verification",
        json=claim(person, world.city.slug),
        headers=other.headers,
    )
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (problem["code"], problem["field"]) == ("too_many_codes_person", "id_number")
    assert len(texts_to(sim, person.phone)) == linking.PER_PERSON  # no more texts
    # Per channel: a channel that asked too often waits, whoever it asks about.
    monkeypatch.setattr(
        linking,
        "CHANNEL_LIMIT",
        linking.codes.limit("link.code.channel.test", 1, "too_many_codes_channel", "wait"),
    )
    someone = sim.world.people[5]
    await victim(world.channel, someone, world.city.slug, user_id="victim-2")
    await other.post("/v1/residents", json={"user_id": "m2"})
    await other.post(
        "/v1/residents/m2/verification", json=claim(someone, world.city.slug), expect=202
    )
    await other.post("/v1/residents", json={"user_id": "m3"})
    third = sim.world.people[6]
    await victim(world.channel, third, world.city.slug, user_id="victim-3")
    problem = await other.post(
        "/v1/residents/m3/verification", json=claim(third, world.city.slug), expect=429
    )
    assert problem["code"] == "too_many_codes_channel"
    assert texts_to(sim, third.phone) == []


async def _applied(
    db: Database, api: Api, sim: Sim, receiver: Receiver
) -> tuple[LotteryWorld, Api, Person, str]:
    """A lottery world whose channel has a webhook; the person applied through it; a second
    channel granted the lottery."""
    world = await lottery_world(db, api)
    async with db.unit_of_work() as session:  # the filing channel receives webhooks
        from cityhub.identity.models import Channel
        from tests.identity.factories import vault

        row = await session.get(Channel, world.login.channel.id)
        assert row is not None
        row.webhook_url, row.webhook_secret_enc = receiver.url, vault().encrypt(HOOK_SECRET)
    code = (await create_round(world))["code"]
    person = eligible(sim.world, 1)[0]
    await victim(world.channel, person, world.city.slug)
    await world.channel.post(
        world.url(code, "/applications"), json={"user_id": "victim"}, expect=201
    )
    other = await second_channel(db, api, [world.service])
    return world, other, person, code


async def _status(db: Database) -> ApplicationStatus:
    async with db.unit_of_work() as session:
        [app] = (await session.scalars(select(LotteryApplication))).all()
    return ApplicationStatus(app.status)


@pytest.fixture
def receiver() -> Any:
    with Receiver(secret=HOOK_SECRET) as running:
        yield running


async def test_a_leaked_name_and_number_cannot_withdraw_the_persons_application(
    db: Database, api: Api, sim: Sim, receiver: Receiver
) -> None:
    world, other, person, code = await _applied(db, api, sim, receiver)
    await attacker(other, person, world.city.slug)
    problem = await other.delete(world.url(code, "/applications/mallory"), expect=404)
    assert problem["code"] == "application_not_found"
    assert await _status(db) == ApplicationStatus.APPLIED
    # A user linked before proof was asked for (name and number only) cannot either.
    await other.post("/v1/residents", json={"user_id": "legacy"})
    async with db.unit_of_work() as session:
        target = await session.scalar(select(Resident).where(Resident.id_number_hash.is_not(None)))
        assert target is not None
        await session.execute(
            update(ChannelUser)
            .where(ChannelUser.channel_user_id == "legacy")
            .values(resident_id=target.id, link_proof=LinkProof.LEGACY)
        )
    problem = await other.delete(world.url(code, "/applications/legacy"), expect=403)
    assert (problem["code"], problem["field"]) == ("link_not_proven", "user_id")
    assert await _status(db) == ApplicationStatus.APPLIED


async def test_a_proven_link_withdraws_audited_and_the_filing_channel_gets_a_signed_webhook(
    db: Database, api: Api, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world, other, person, code = await _applied(db, api, sim, receiver)
    await other.post("/v1/residents", json={"user_id": "me-on-b"})
    answer = await other.post(
        "/v1/residents/me-on-b/verification", json=claim(person, world.city.slug), expect=202
    )
    linked = await prove_link(other, sim.control, "me-on-b", answer, person.phone)
    assert (linked["identity_level"], linked["link"]) == ("authority_checked", None)
    withdrawn = await other.delete(world.url(code, "/applications/me-on-b"), expect=200)
    assert withdrawn["status"] == "withdrawn" and await _status(db) == ApplicationStatus.WITHDRAWN
    async with db.unit_of_work() as session:
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert "lottery_application.withdrawn.cross_channel" in actions
    assert "resident.linked" in actions
    await drain(db, settings)
    hooks = [json.loads(d.body) for d in receiver.deliveries]
    told = [h for h in hooks if h["type"] == linking.CROSS_CHANNEL]
    assert len(told) == 1 and all(d.signed for d in receiver.deliveries)
    data = told[0]["data"]
    assert (data["action"], data["object_type"]) == ("withdrawn", "lottery_application")
    assert data["object_id"] == withdrawn["application_id"]
    # The filing channel withdrawing its own user's application tells nobody.
    async with db.unit_of_work() as session:
        topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert topics.count(linking.CROSS_CHANNEL) == 1


async def test_a_channel_where_the_person_is_linked_confirms_a_link(
    db: Database, api: Api, sim: Sim
) -> None:
    world = await query_world(db, api)
    person = sim.world.people[7]
    await world.channel.post("/v1/residents", json={"user_id": "known"})  # no phone on record
    await world.channel.post(
        "/v1/residents/known/verification", json=claim(person, world.city.slug), expect=200
    )
    other = await second_channel(db, api, list(world.services.values()))
    await other.post("/v1/residents", json={"user_id": "new"})
    answer = await other.post(
        "/v1/residents/new/verification", json=claim(person, world.city.slug), expect=202
    )
    assert answer["link"]["method"] == "channel_confirmation" and answer["link"]["phone"] is None
    request_id = answer["link"]["id"]
    problem = await other.post(
        f"/v1/residents/new/link-requests/{request_id}/code", json={"code": "123456"}, expect=409
    )
    assert problem["code"] == "link_needs_channel"
    # The asking channel cannot confirm for itself, nor find the person's other users.
    await other.post(f"/v1/residents/new/link-requests/{request_id}/confirmation", expect=404)
    pending = (await world.channel.get("/v1/residents/known/link-requests"))["items"]
    assert [p["id"] for p in pending] == [request_id]
    await world.channel.post(
        f"/v1/residents/known/link-requests/{request_id}/confirmation", expect=200
    )
    shown = await other.get("/v1/residents/new")
    assert shown["identity_level"] == "authority_checked" and shown["name"] is not None
    async with db.unit_of_work() as session:
        proofs = (await session.scalars(select(ChannelUser.link_proof))).all()
    assert LinkProof.CHANNEL_CONFIRMATION in proofs
    assert (await world.channel.get("/v1/residents/known/link-requests"))["items"] == []


async def test_levels_come_from_the_registry_or_the_channels_word(
    db: Database, api: Api, sim: Sim
) -> None:
    world = await query_world(db, api)
    person, someone = sim.world.people[8], sim.world.people[9]
    channel = world.channel
    for user in ("a", "b", "c", "d"):
        await channel.post("/v1/residents", json={"user_id": user})
    # The registry does not hold this name with this number: nothing is written.
    problem = await channel.post(
        "/v1/residents/a/verification",
        json=claim(person, world.city.slug, name=someone.name),
        expect=422,
    )
    assert (problem["code"], problem["field"]) == ("identity_not_confirmed", "id_number")
    assert (await channel.get("/v1/residents/a"))["identity_level"] == "none"
    # A liveness token: the person's passes, another's fails.
    problem = await channel.post(
        "/v1/residents/a/verification",
        json=claim(person, world.city.slug, liveness_token=sim.world.liveness_token(someone)),
        expect=422,
    )
    assert (problem["code"], problem["field"]) == ("liveness_failed", "liveness_token")
    good = await channel.post(
        "/v1/residents/a/verification",
        json=claim(person, world.city.slug, liveness_token=sim.world.liveness_token(person)),
        expect=200,
    )
    assert good["identity_level"] == "authority_checked"
    # The channel's word alone: channel_asserted, not enough for personal records.
    vouched = await channel.post(
        "/v1/residents/b/verification",
        json={"name": someone.name, "id_number": someone.id_number, "purpose": "real-name"},
        expect=200,
    )
    assert (vouched["identity_level"], vouched["verified"]) == ("channel_asserted", True)
    await channel.post("/v1/residents/b/consents", json={"scope": "records", "purpose": "mine"})
    problem = await channel.post(
        world.url("social-insurance"), json={"user_id": "b", "params": {}}, expect=403
    )
    assert (problem["code"], problem["level"], problem["required"]) == (
        "identity_level_required",
        "channel_asserted",
        "authority_checked",
    )
    # ...until the registry confirms the same person: the level rises.
    raised = await channel.post(
        "/v1/residents/b/verification",
        json=claim(someone, world.city.slug),
        expect=200,
    )
    assert raised["identity_level"] == "authority_checked"
    await channel.post(
        world.url("social-insurance"), json={"user_id": "b", "params": {}}, expect=200
    )
    # A city with no registry, or one that granted the channel nothing: 422/403 on `city`.
    problem = await channel.post(
        "/v1/residents/c/verification", json=claim(person, "nowhere"), expect=422
    )
    assert (problem["code"], problem["field"]) == ("city_not_found", "city")
    services = await channel.get(f"/v1/cities/{world.city.slug}/services")
    levels = {s["code"]: s["identity_level"] for s in services["items"]}
    assert levels["social-insurance"] == "authority_checked"
