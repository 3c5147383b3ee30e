"""Races of real concurrent clients: no place is ever given twice, and the real-name rules hold,
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.appointments.models import HOLDS_PLACE, Booking, Slot
from cityhub.platform.db import Database
from tests.appointments.factories import ApptWorld, appt_world, verified_users
from tests.client import Api

ATTEMPTS = 1000
PLACES = 100


async def _race(world: ApptWorld, users: list[str], slots: list[str]) -> Counter[Any]:
    async def one(n: int, user: str) -> tuple[int, str | None]:
        answer = await world.channel.client.post(
            world.url("/bookings"),
            json={"user_id": user, "slot": slots[n % len(slots)]},
            headers=world.channel.headers,
        )
        return answer.status_code, None if answer.status_code == 201 else answer.json()["code"]

    return Counter(await asyncio.gather(*[one(n, u) for n, u in enumerate(users)]))


async def _invariants(db: Database, capacity: int) -> dict[str, int]:
    """Every slot's `taken` equals the bookings holding a place on it, never above capacity."""
    async with db.unit_of_work() as session:
        slots = {s.id: s for s in (await session.scalars(select(Slot))).all()}
        holding = dict(
            (
                await session.execute(
                    select(Booking.slot_id, func.count())
                    .where(Booking.status.in_(HOLDS_PLACE))
                    .group_by(Booking.slot_id)
                )
            ).all()
        )
        statuses = dict(
            (
                await session.execute(select(Booking.status, func.count()).group_by(Booking.status))
            ).all()
        )
    for slot in slots.values():
        assert slot.taken == holding.get(slot.id, 0) <= slot.capacity, (slot.taken, holding)
    assert sum(holding.values()) <= capacity
    return {str(k): int(v) for k, v in statuses.items()}


@pytest.mark.slow
async def test_1000_patients_race_for_100_places_and_get_exactly_100(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    users = await verified_users(db, world.login, ATTEMPTS)
    created = await world.session(places=PLACES, slots=4)
    slots = [s["id"] for s in created["slots"]]
    answers = await _race(world, users, slots)
    assert answers == {(201, None): PLACES, (409, "slot_full"): ATTEMPTS - PLACES}, answers
    statuses = await _invariants(db, PLACES)
    assert statuses == {"booked": PLACES}
    read = await world.channel.get(world.url(f"/sessions/{created['id']}"))
    assert (read["capacity"], read["left"]) == (PLACES, 0)


async def test_one_patient_booking_many_times_at_once_gets_one_booking(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    sessions = [await world.session(places=5, period=p) for p in ("morning", "afternoon")]
    slots = [s["slots"][0]["id"] for s in sessions]
    answers = await _race(world, [user] * 40, slots)
    assert answers[(201, None)] == 1, answers
    assert set(answers) <= {(201, None), (409, "already_booked_that_day")}, answers
    async with db.unit_of_work() as session:
        count = await session.scalar(select(func.count()).select_from(Booking))
    assert count == 1


@pytest.mark.slow
async def test_cancellations_and_waitlist_offers_interleaved_never_give_a_place_twice(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    users = await verified_users(db, world.login, 700)
    first, waiters, late = users[:300], users[300:400], users[400:]
    created = await world.session(places=PLACES, slots=4)
    slots = [s["id"] for s in created["slots"]]
    await _race(world, first, slots)
    url = world.url(f"/sessions/{created['id']}/waitlist")
    entries = await asyncio.gather(*[world.channel.post(url, json={"user_id": u}) for u in waiters])
    async with db.unit_of_work() as session:
        booked = list(
            (
                await session.scalars(select(Booking.public_id).where(Booking.status == "booked"))
            ).all()
        )
    random.Random(5).shuffle(booked)
    cancel_now, cancel_later = booked[:60], booked[60:90]

    async def cancel(public_id: str) -> int:
        answer = await world.channel.client.post(
            world.url(f"/bookings/{public_id}/cancellation"), headers=world.channel.headers
        )
        return answer.status_code

    # Cancellations race new bookings: every freed place goes to the waitlist as an offer.
    results = await asyncio.gather(
        asyncio.gather(*[cancel(b) for b in cancel_now]), _race(world, late, slots)
    )
    assert results[0] == [200] * 60
    assert results[1] == {(409, "slot_full"): len(late)}, results[1]
    await _invariants(db, PLACES)
    # Offers are accepted or declined while more bookings are cancelled.
    offers = [
        (await world.channel.get(world.url(f"/waitlist/{e['id']}")))["offer"] for e in entries
    ]
    made = [o for o in offers if o]
    assert len(made) == 60

    async def answer(n: int, offer: str) -> int:
        verb = "acceptance" if n % 4 else "cancellation"
        reply = await world.channel.client.post(
            world.url(f"/bookings/{offer}/{verb}"), headers=world.channel.headers
        )
        return reply.status_code

    replies = await asyncio.gather(
        asyncio.gather(*[answer(n, o) for n, o in enumerate(made)]),
        asyncio.gather(*[cancel(b) for b in cancel_later]),
    )
    assert set(replies[0]) == {200} and set(replies[1]) == {200}
    statuses = await _invariants(db, PLACES)
    # 105 places were freed (60 + 30 cancellations, 15 offers declined) for 100 waiters: 100
    # offers were made, and the last 5 places went back to the pool.
    assert statuses["cancelled"] == 90 + 15, statuses
    assert statuses["booked"] + statuses["offered"] == PLACES - 5, statuses
    async with db.unit_of_work() as session:
        taken = await session.scalar(select(func.sum(Slot.taken)))
    assert taken == PLACES - 5
    assert statuses["booked"] == 10 + 45, statuses  # first bookers left, offers taken
