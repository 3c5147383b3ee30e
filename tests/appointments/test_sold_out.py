"""An attempt on a full slot by a token that made a full attempt in the city under the caches'
version is answered before routing (`appointments/sold_out.py`): the same problem as the full
attempt's, from one read; anything else goes the full way with its body."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, verified_users
from tests.client import Api

ZH = {"Accept-Language": "zh-Hans"}


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The statements sent through SQLAlchemy meanwhile (not BEGIN, COMMIT, ROLLBACK)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def without_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k != "request_id"}


async def test_a_sold_out_attempt_is_answered_from_one_read_as_the_full_attempt_answers_it(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [holder, first, late, later] = await verified_users(db, world.login, 4)
    slot = (await world.session(places=1))["slots"][0]["id"]
    url = world.url("/bookings")
    await world.book(holder, slot)  # a full attempt: this token is known in the city now
    with statements(db) as sent:  # the first refusal goes the full way, and marks the slot
        await world.book(first, slot, expect=409)
    assert any("appt_slots" in s for s in sent) and len(sent) >= 2
    with statements(db) as sent:
        hot = await world.channel.post(
            url, json={"user_id": late, "slot": slot}, headers={**ZH, "Idempotency-Key": "a"},
            expect=409,
        )  # fmt: skip
    assert world.channel.last is not None
    hot_language = world.channel.last.headers.get("content-language")
    # One read: the slot with the key's probe and the caches' version (on PostgreSQL it goes
    # on the driver, below SQLAlchemy).
    assert len(sent) <= 1 and all("cache_versions" in s and "appt_slots" in s for s in sent)
    other = await world.api.as_channel(world.login.client_id, world.login.secret)
    full = await other.post(
        url, json={"user_id": later, "slot": slot}, headers={**ZH, "Idempotency-Key": "b"},
        expect=409,
    )  # fmt: skip
    assert other.last is not None
    assert without_id(hot) == without_id(full) and hot["code"] == "slot_full"
    assert hot_language == other.last.headers.get("content-language") == "zh-Hans"
    assert hot["request_id"] != full["request_id"]


async def test_a_freed_place_a_bad_body_and_a_revoked_grant_go_the_full_way(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [holder, late] = await verified_users(db, world.login, 2)
    slot = (await world.session(places=1))["slots"][0]["id"]
    url = world.url("/bookings")
    booking = await world.book(holder, slot)
    await world.book(late, slot, expect=409)
    refused = await world.channel.post(url, json={"slot": slot}, expect=422)
    assert refused["code"] == "validation_failed" and refused["field"] == "user_id"
    await world.channel.post(
        world.url(f"/bookings/{booking['id']}/cancellation"), expect=200
    )  # the place is free again: the next attempt books it
    again = await world.book(late, slot)
    assert again["slot"] == slot and again["status"] == "booked"
    # The channel's grant revoked: the caches' version moves, and the attempt is refused as
    # the full attempt refuses it.
    grants = await world.staff.get(f"/v1/cities/{world.city.slug}/grants")
    for grant in grants["items"]:
        await world.staff.delete(f"/v1/cities/{world.city.slug}/grants/{grant['id']}")
    gone = await world.book(holder, slot, expect=403)
    assert gone["code"] != "slot_full"
