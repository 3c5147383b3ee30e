"""One history of a person's affairs: every item of theirs from every channel where they are
proven-linked, nothing of anyone else's, newest first, paged; another channel's ids withheld."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from cityhub.identity.models import ChannelUser, LinkProof
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.client import Api
from tests.history.factories import Parents, affairs, link, parents
from tests.identity.factories import create_channel

CONSENT = {"scope": "history", "purpose": "show me my history with the city"}


@dataclass
class Channel:
    id: int
    slug: str
    api: Api


async def _channel(db: Database, api: Api) -> Channel:
    login = await create_channel(db)
    return Channel(
        login.channel.id, login.channel.slug, await api.as_channel(login.client_id, login.secret)
    )


async def _user(db: Database, channel: Channel, user_id: str) -> int:
    await channel.api.post("/v1/residents", json={"user_id": user_id})
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(ChannelUser.resident_id).where(
                ChannelUser.channel_id == channel.id, ChannelUser.channel_user_id == user_id
            )
        )
    assert found is not None
    return found


async def _all(channel: Channel, user_id: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await channel.api.get(f"/v1/residents/{user_id}/history", params=params)
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@dataclass
class World:
    parents: Parents
    a: Channel
    b: Channel
    c: Channel
    alice: int
    bob: int
    alice_refs: list[dict[str, str]]
    bob_refs: list[dict[str, str]]


async def _world(db: Database, api: Api, hub_clock: Clock) -> World:
    """Two people and three channels: Alice on A, B and C (proven), Bob on A and B (proven) and
    on C on name and number alone."""
    p = await parents(db)
    a, b, c = [await _channel(db, api) for _ in range(3)]
    alice, bob = await _user(db, a, "a1"), await _user(db, a, "b1")
    for channel, user, person in (
        (b, "a2", alice),
        (c, "a3", alice),
        (b, "b2", bob),
        (c, "b3", bob),
    ):
        await _user(db, channel, user)
        await link(db, channel_id=channel.id, user_id=user, to_resident=person)
    async with db.unit_of_work() as session:
        await session.execute(
            update(ChannelUser)
            .where(ChannelUser.channel_id == c.id, ChannelUser.channel_user_id == "b3")
            .values(link_proof=LinkProof.LEGACY)
        )
    alice_refs, bob_refs = [], []
    for channel, user, person, refs in (
        (a, "a1", alice, alice_refs),
        (b, "b2", bob, bob_refs),
        (b, "a2", alice, alice_refs),
        (a, "b1", bob, bob_refs),
        (c, "a3", alice, alice_refs),
        (c, "b3", bob, bob_refs),
    ):
        hub_clock.advance(minutes=1)
        refs.append(
            await affairs(
                db,
                p,
                resident_id=person,
                channel_id=channel.id,
                channel_slug=channel.slug,
                user_id=user,
                notice=channel is a,
            )
        )
    return World(p, a, b, c, alice, bob, alice_refs, bob_refs)


async def test_a_history_holds_every_item_of_the_person_and_nothing_else(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    w = await _world(db, api, hub_clock)
    refused = await w.a.api.get("/v1/residents/a1/history", expect=403)
    assert refused["code"] == "consent_required"
    await w.a.api.post("/v1/residents/a1/consents", json=CONSENT)

    items = await _all(w.a, "a1", limit=4)
    # 3 channels x (payment, booking, query, application, request) + the notice + the consent
    assert len(items) == 17
    assert len({i["id"] for i in items}) == 17
    moments = [i["at"] for i in items]
    assert moments == sorted(moments, reverse=True)
    by_channel = {
        slug: [i for i in items if i["channel"] == slug] for slug in (w.a.slug, w.b.slug, w.c.slug)
    }
    assert [len(by_channel[s]) for s in (w.a.slug, w.b.slug, w.c.slug)] == [
        6,
        5,
        5,
    ]  # + consent on A
    assert {i["kind"] for i in items} == {
        "payment",
        "booking",
        "query",
        "application",
        "request",
        "notice",
        "consent",
    }
    # The calling channel's own items carry its ids; the others' items do not.
    own = {i["ref"] for i in by_channel[w.a.slug] if i["ref"]}
    assert own == {w.alice_refs[0][k] for k in ("payment", "booking", "application", "request")}
    assert all(
        i["ref"] is None and not i["own"] for i in by_channel[w.b.slug] + by_channel[w.c.slug]
    )
    text = json.dumps([{k: v for k, v in i.items() if k not in ("id", "link")} for i in items])
    for refs in w.alice_refs[1:]:
        assert not any(refs[k] in text for k in ("payment", "booking", "application", "request"))
    assert {i["title"] for i in items if i["kind"] == "query"} == {r["query"] for r in w.alice_refs}
    for refs in w.bob_refs:  # nothing of Bob's, from any channel
        assert not any(value in text for value in refs.values())
    assert '"a2"' not in text and '"a3"' not in text  # nor the other channels' user ids
    own_payment = next(i for i in items if i["kind"] == "payment" and i["own"])
    assert own_payment["link"] == f"/v1/cities/{w.parents.city.slug}/payments/{own_payment['ref']}"
    assert (
        own_payment["amount_fen"] == 1010 and own_payment["service"] == w.parents.bill_service.code
    )


async def test_a_channel_not_proven_sees_only_its_own_items(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    w = await _world(db, api, hub_clock)
    await w.c.api.post("/v1/residents/b3/consents", json=CONSENT)
    items = await _all(w.c, "b3", limit=50)
    assert {i["channel"] for i in items} == {w.c.slug}
    assert {i["ref"] for i in items if i["ref"]} == {
        w.bob_refs[2][k] for k in ("payment", "booking", "application", "request")
    }
    await w.b.api.post("/v1/residents/b2/consents", json=CONSENT)
    from_b = await _all(w.b, "b2", limit=50)
    assert {i["channel"] for i in from_b} == {w.a.slug, w.b.slug, None}  # not C's: legacy link


async def test_items_open_only_in_their_own_history(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    w = await _world(db, api, hub_clock)
    await w.b.api.post("/v1/residents/a2/consents", json=CONSENT)
    await w.b.api.post("/v1/residents/b2/consents", json=CONSENT)
    alice_items = await _all(w.b, "a2", limit=50)
    from_c = next(i for i in alice_items if i["channel"] == w.c.slug and i["kind"] == "booking")
    assert from_c["link"].startswith("/v1/residents/a2/history/items/")
    assert await w.b.api.get(from_c["link"]) == from_c
    bob_item = (await _all(w.b, "b2", limit=50))[0]
    missing = await w.b.api.get(f"/v1/residents/a2/history/items/{bob_item['id']}", expect=404)
    assert missing["code"] == "history_item_not_found"
    await w.b.api.get("/v1/residents/a2/history/items/not-a-token", expect=404)
    bad = await w.b.api.get("/v1/residents/a2/history", params={"cursor": "xyz"}, expect=422)
    assert bad["field"] == "cursor"


async def test_the_export_is_the_whole_history_in_json_and_csv(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    w = await _world(db, api, hub_clock)
    await w.a.api.post("/v1/residents/a1/consents", json=CONSENT)
    items = await _all(w.a, "a1", limit=100)
    exported = await w.a.api.get("/v1/residents/a1/history/export")
    assert [i["id"] for i in exported["items"]] == [i["id"] for i in items]
    assert exported["resident"]["user_id"] == "a1" and not exported["truncated"]
    assert any(a["purpose"] == "show the user their history" for a in exported["data_access"])
    body = await w.a.api.get("/v1/residents/a1/history/export", params={"format": "csv"})
    assert w.a.api.last.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 17 and {r["kind"] for r in rows} >= {"payment", "consent"}
    assert all(r["ref"] == "" for r in rows if r["channel"] not in (w.a.slug, ""))
