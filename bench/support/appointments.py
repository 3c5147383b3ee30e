"""What the booking benches share: the hospital and its sessions, the patients, the cost of one
attempt counted on the wire (booked and sold out), the floor's counts, and the checks that no
place was overbooked and no patient booked twice in one department on one day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from cityhub import migrations
from cityhub.appointments.models import Booking, BookingStatus, Slot
from cityhub.platform.db import Database
from support import loadgen, reference
from support.hub import Hub, counted
from support.pgwire import Counts

ACTIVE = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.CHECKED_IN)
COUNT = 20  # attempts of each kind counted on the wire
COUNTING_USERS = 2 * COUNT + 20


@dataclass
class Clinic:
    """One doctor's session tomorrow: its department and the places of each of its slots."""

    department: str
    capacities: list[int]


@dataclass
class World:
    city: str
    client_id: str
    secret: str
    users: list[str]
    slots: list[list[str]] = field(default_factory=list)  # public ids, per clinic


async def prepare(url: str, clinics: list[Clinic], patients: int) -> World:
    """Migrate; a city, a hospital granted to a channel, the clinics, and verified patients."""
    from tests.appointments.factories import tomorrow, verified_users
    from tests.cities.factories import create_city, create_grant
    from tests.connectors.factories import connected_service
    from tests.identity.factories import SECRET, create_channel

    from cityhub.appointments import schedules
    from cityhub.appointments.schemas import SessionCreate
    from cityhub.cities.models import ServiceKind

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        hospital = await connected_service(
            db,
            city=city,
            code="hospital-bench",
            connector="simulator:hospital",
            config={"provider_id": "bench"},
            kind=ServiceKind.APPOINTMENT,
            category="medical",
        )
        login = await create_channel(db, slug="bench-app")
        await create_grant(db, channel=login.channel, service=hospital)
        world = World(city.slug, login.client_id, SECRET, await verified_users(db, login, patients))
        start = dt.datetime(2000, 1, 1, 7, 0)
        async with db.unit_of_work() as session:
            for n, clinic in enumerate(clinics):
                times = [
                    start + dt.timedelta(minutes=5 * k) for k in range(len(clinic.capacities) + 1)
                ]
                made = await schedules.create_session(
                    session=session,
                    city=city,
                    session_in=SessionCreate.model_validate(
                        {
                            "service": hospital.code,
                            "department": clinic.department,
                            "practitioner": f"dr-{n}",
                            "day": tomorrow().isoformat(),
                            "period": "morning",
                            "slots": [
                                {"start": f"{a:%H:%M}", "end": f"{b:%H:%M}", "capacity": c}
                                for a, b, c in zip(
                                    times, times[1:], clinic.capacities, strict=False
                                )
                            ],
                        }
                    ),
                )
                found = await session.scalars(
                    select(Slot.public_id).where(Slot.session_id == made.id).order_by(Slot.id)
                )
                world.slots.append(list(found.all()))
        return world
    finally:
        await db.dispose()


def attempts(
    hub: Hub, folder: Path, world: World, token: str, plans: list[list[tuple[str, str, str]]]
) -> loadgen.Run:
    """Each plan played by one client: (user, slot, idempotency key) booking attempts."""
    folder.mkdir(parents=True, exist_ok=True)
    loadgen.write_plans(folder, plans)
    return loadgen.run(
        hub.base_url, "book", len(plans), {"city": world.city, "token": token}, folder=folder
    )


def count_hub(url: str, folder: Path, world: World, clinic: int) -> tuple[Counts, Counts]:
    """What a booked attempt and a sold-out one cost on the wire (one client, after a warm-up),
    on `clinic`, whose first slot has room for all and whose second has one place; the users
    are the world's first `COUNTING_USERS`."""
    free, single = world.slots[clinic][0], world.slots[clinic][1]
    users = iter(world.users[:COUNTING_USERS])
    with counted(url, folder) as (hub, proxy):
        token = hub.token(world.client_id, world.secret)

        def some(slot: str, n: int, expect: str) -> Counts:
            before = proxy.snapshot()
            plan = [(u, slot, f"count-{u}") for u in (next(users) for _ in range(n))]
            run = attempts(hub, folder / f"count-{slot}-{n}-{expect}", world, token, [plan])
            answers = loadgen.statuses(run.records)
            if answers != {expect: n}:
                raise SystemExit(f"counting: expected {n} x {expect}, got {answers}")
            spent = proxy.snapshot() - before
            spent.round_trips -= spent.connections
            return spent

        # Warm up both paths (the single place is taken by the first of these), then count.
        for slot, n, expect in ((free, 5, "201"), (single, 1, "201"), (single, 5, "409 slot_full")):
            some(slot, n, expect)
        return some(free, COUNT, "201"), some(single, COUNT, "409 slot_full")


def count_floor(ref_url: str, take: Path, folder: Path) -> tuple[Counts, Counts]:
    """What one booked attempt and one sold-out attempt of `book_take.sql` cost on the wire."""
    booked = reference.counted(ref_url, take, COUNT)
    full = folder / "fill_ref_slots.sql"
    full.write_text("UPDATE ref_slots SET taken = capacity;\n")
    reference.load(ref_url, full)
    sold_out = reference.counted(ref_url, take, COUNT)
    reference.load(ref_url, reference.script("book_reset.sql"))
    return booked, sold_out


@dataclass
class Outcome:
    """The slots and bookings as the run left them."""

    slots: dict[str, tuple[int, int, int]]  # public id -> (capacity, taken, active bookings)
    doubles: int  # patients with two active bookings in one department on one day
    bookings: set[str]  # public ids of active bookings
    held: set[tuple[str, str]]  # (channel user id, slot public id) of each active booking

    def overbooked(self) -> list[str]:
        return [s for s, (cap, taken, held) in self.slots.items() if taken > cap or held > cap]

    def mismatched(self) -> list[str]:
        return [s for s, (_, taken, held) in self.slots.items() if taken != held]


async def outcome(url: str) -> Outcome:
    """Read what the run left, from the database."""
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            held = (
                select(Booking.slot_id, func.count().label("n"))
                .where(Booking.status.in_(ACTIVE))
                .group_by(Booking.slot_id)
                .subquery()
            )
            rows = await session.execute(
                select(
                    Slot.public_id, Slot.capacity, Slot.taken, func.coalesce(held.c.n, 0)
                ).outerjoin(held, held.c.slot_id == Slot.id)
            )
            slots = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}
            twice = (
                select(Booking.patient_hash)
                .where(Booking.status.in_(ACTIVE))
                .group_by(Booking.patient_hash, Booking.department_id, Booking.day)
                .having(func.count() > 1)
                .subquery()
            )
            doubles = await session.scalar(select(func.count()).select_from(twice))
            active = await session.execute(
                select(Booking.public_id, Booking.user_id, Slot.public_id)
                .join(Slot, Slot.id == Booking.slot_id)
                .where(Booking.status.in_(ACTIVE))
            )
            rows = list(active)
            return Outcome(
                slots, int(doubles or 0), {r[0] for r in rows}, {(r[1], r[2]) for r in rows}
            )
    finally:
        await db.dispose()
