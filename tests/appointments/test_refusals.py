"""Cheap refusals: a sold-out slot, or a patient already booked in the department that day,
is answered 409 with nothing written (no idempotency key, booking, outbox event or count),
while a retry of an attempt that booked still gets its first answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select

from cityhub.appointments.models import Booking, PatientStanding
from cityhub.outbox import OutboxEvent
from cityhub.platform.db import Database
from cityhub.platform.idempotency import IdempotencyKey
from tests.appointments.factories import appt_world, verified_users
from tests.client import Api


async def written(db: Database) -> tuple[int, ...]:
    """How many keys, bookings, outbox events and counted active bookings there are."""
    async with db.unit_of_work() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (IdempotencyKey, Booking, OutboxEvent)
        ]
        active = await session.scalar(select(func.coalesce(func.sum(PatientStanding.active), 0)))
    return (*(int(c or 0) for c in counts), int(active or 0))


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL the hub sends in the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_a_sold_out_attempt_leaves_nothing_behind(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [holder, late] = await verified_users(db, world.login, 2)
    slot = (await world.session(places=1))["slots"][0]["id"]
    url = world.url("/bookings")
    first = await world.channel.post(
        url, json={"user_id": holder, "slot": slot}, headers={"Idempotency-Key": "first"}
    )
    before = await written(db)
    with statements(db) as sent:
        key = {"Idempotency-Key": "late"}
        body = {"user_id": late, "slot": slot}
        problem = await world.channel.post(url, json=body, headers=key, expect=409)
    assert problem["code"] == "slot_full"
    assert await written(db) == before  # no key kept, no booking, no event, nothing counted
    # Refused on the slot's read: the patient's rows and the bookings are never touched.
    touched = [s for s in sent if any(t in s for t in ("appt_patients", "appt_bookings", "outbox"))]
    assert touched == []
    # The attempt that booked, retried on the now full slot, gets its first answer back.
    body, key = {"user_id": holder, "slot": slot}, {"Idempotency-Key": "first"}
    again = await world.channel.post(url, json=body, headers=key, expect=201)
    assert again == first


async def test_a_patient_booked_that_day_is_refused_with_nothing_written(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    morning = await world.session(places=5, department="internal")
    afternoon = await world.session(places=5, department="internal", period="afternoon")
    await world.book(user, morning["slots"][0]["id"])
    before = await written(db)
    problem = await world.channel.post(
        world.url("/bookings"),
        json={"user_id": user, "slot": afternoon["slots"][0]["id"]},
        headers={"Idempotency-Key": "twice"},
        expect=409,
    )
    assert problem["code"] == "already_booked_that_day"
    assert await written(db) == before  # the patient's count went back with the claim


def writes(sent: list[str]) -> list[str]:
    """The statements that write."""
    return [
        s for s in sent if s.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
    ]


async def test_a_sold_out_attempt_writes_nothing_and_a_booking_writes_its_key_once(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [holder, late] = await verified_users(db, world.login, 2)
    slot = (await world.session(places=1))["slots"][0]["id"]
    url = world.url("/bookings")
    with statements(db) as sent:
        await world.channel.post(
            url, json={"user_id": holder, "slot": slot}, headers={"Idempotency-Key": "one"}
        )
    # The key is claimed by the statement that stores the answer: one write of it.
    assert [s for s in writes(sent) if "idempotency_keys" in s] == [
        next(s for s in sent if s.lstrip().startswith("INSERT INTO idempotency_keys"))
    ]
    with statements(db) as sent:
        await world.channel.post(
            url,
            json={"user_id": late, "slot": slot},
            headers={"Idempotency-Key": "two"},
            expect=409,
        )
    assert writes(sent) == []  # the slot's read (with the key's probe) said it all


async def test_one_key_sent_many_times_at_once_books_once_and_answers_alike(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    slot = (await world.session(places=5))["slots"][0]["id"]

    async def attempt() -> tuple[int, Any]:
        answer = await world.channel.client.post(
            world.url("/bookings"),
            json={"user_id": user, "slot": slot},
            headers={**world.channel.headers, "Idempotency-Key": "same"},
        )
        return answer.status_code, answer.json()

    answers = await asyncio.gather(*[attempt() for _ in range(12)])
    assert {status for status, _ in answers} == {201}, answers
    assert len({body["id"] for _, body in answers}) == 1  # every one the first answer
    assert (await written(db))[:2] == (1, 1)  # one key, one booking
