"""A search for free slots never misses one that exists: whatever the places taken, the page
size, a start bound, and places taken or given back while a client walks the pages, every slot
free throughout is found, once, in order (Hypothesis, against the database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from cityhub.appointments.models import Slot
from cityhub.platform.db import Database
from tests.appointments.factories import appt_world, tomorrow
from tests.appointments.fhir_client import fhir_get, ids, next_link
from tests.client import Api

SLOTS = 12  # three sessions of four slots; two share their start times (ties in the sort)
_worlds: dict[int, tuple[Any, list[dict[str, Any]]]] = {}


async def _world(api: Api, db: Database) -> tuple[Any, list[dict[str, Any]]]:
    """One world per test run: the examples reuse it and set the places taken each time."""
    if id(db) not in _worlds:
        world = await appt_world(db, api)
        made = [
            await world.session(places=8, slots=4, day=tomorrow()),
            await world.session(places=8, slots=4, day=tomorrow()),
            await world.session(places=8, slots=4, day=tomorrow() + dt.timedelta(days=1)),
        ]
        slots = [s for m in made for s in m["slots"]]
        # By start, then as made (ties are sorted by the order rows were written).
        slots.sort(key=lambda s: dt.datetime.fromisoformat(s["start"]))
        _worlds.clear()
        _worlds[id(db)] = (world, slots)
    return _worlds[id(db)]


async def _set_taken(db: Database, *changes: tuple[str, int]) -> None:
    async with db.unit_of_work() as session:
        for slot_id, taken in changes:
            await session.execute(update(Slot).where(Slot.public_id == slot_id).values(taken=taken))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    taken=st.lists(st.integers(0, 2), min_size=SLOTS, max_size=SLOTS),
    count=st.integers(1, 5),
    bound=st.sampled_from([None, "ge", "lt"]),
    pivot=st.integers(0, SLOTS - 1),
    changes=st.lists(st.tuples(st.integers(0, SLOTS - 1), st.integers(0, 2)), max_size=4),
)
async def test_a_free_slot_search_never_misses_one(
    api: Api,
    db: Database,
    taken: list[int],
    count: int,
    bound: str | None,
    pivot: int,
    changes: list[tuple[int, int]],
) -> None:
    world, slots = await _world(api, db)
    await _set_taken(db, *[(s["id"], t) for s, t in zip(slots, taken, strict=True)])
    params: dict[str, Any] = {"status": "free", "_count": count}
    at = dt.datetime.fromisoformat(slots[pivot]["start"])
    if bound:
        params["start"] = f"{bound}{at.isoformat()}"

    def wanted(n: int) -> bool:
        start = dt.datetime.fromisoformat(slots[n]["start"])
        in_bound = bound is None or (start >= at if bound == "ge" else start < at)
        return in_bound and taken[n] < 2  # capacity 2 each

    page = await fhir_get(world.channel, "/fhir/r4/Slot", params=params)
    seen = ids(page)
    pending = list(changes)
    while (link := next_link(page)) is not None:
        if pending:  # someone books or cancels while the client is between pages
            n, places = pending.pop(0)
            await _set_taken(db, (slots[n]["id"], places))
        page = await fhir_get(world.channel, link)
        assert len(page.get("entry") or []) <= count
        seen += ids(page)
    touched = {n for n, _ in changes}
    steady = [slots[n]["id"] for n in range(SLOTS) if wanted(n) and n not in touched]
    assert len(seen) == len(set(seen))  # never twice
    assert set(steady) <= set(seen)  # never missed
    order = {s["id"]: n for n, s in enumerate(slots)}
    assert [order[i] for i in seen] == sorted(order[i] for i in seen)
    if not changes:
        assert seen == [slots[n]["id"] for n in range(SLOTS) if wanted(n)]
