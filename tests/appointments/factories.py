"""Appointment factories: a city with a hospital on the simulator, a channel granted it, staff,
verified residents in bulk, and sessions entered through the API."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from cityhub.appointments.events import GRACE_SECONDS
from cityhub.appointments.models import Booking, BookingStatus, Slot
from cityhub.cities.models import City, Service, ServiceKind
from cityhub.identity.models import ChannelUser, Resident, Role
from cityhub.identity.pii import mask_id_number
from cityhub.platform.clock import Clock, today_in
from cityhub.platform.db import Database, utcnow
from tests.cities.factories import create_city, create_grant
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, ChannelLogin, create_channel, create_staff, vault

CHINA = ZoneInfo("Asia/Shanghai")
_seq = itertools.count(1)
_people = itertools.count(1)


def id_number(serial: int) -> str:
    """A valid identity number, different for every serial up to 10^7."""
    from cityhub.identity.pii import id_check_digit

    birth = dt.date(1950, 1, 1) + dt.timedelta(days=serial // 1000)
    first17 = f"310101{birth:%Y%m%d}{serial % 1000:03d}"
    return first17 + id_check_digit(first17)


def tomorrow() -> dt.date:
    """Tomorrow in the test city (on the hub's clock)."""
    return today_in("Asia/Shanghai") + dt.timedelta(days=1)


@dataclass
class ApptWorld:
    """A city with one hospital (on the simulated FHIR hospital) and a channel granted it."""

    city: City
    hospital: Service
    login: ChannelLogin
    channel: Api
    staff: Api
    api: Api
    db: Database

    def url(self, path: str = "") -> str:
        return f"/v1/cities/{self.city.slug}/appointments{path}"

    async def session(
        self,
        *,
        places: int = 10,
        slots: int = 1,
        fee_fen: int = 0,
        day: dt.date | None = None,
        period: str = "morning",
        practitioner: str | None = None,
        department: str = "internal",
        **extra: Any,
    ) -> Any:
        """A session entered by staff: `slots` half-hour slots from 08:00 sharing `places`."""
        per = places // slots
        start = dt.datetime.combine(dt.date.today(), dt.time(8 if period == "morning" else 14))
        windows = []
        for n in range(slots):
            s = start + dt.timedelta(minutes=30 * n)
            e = s + dt.timedelta(minutes=30)
            cap = per + (1 if n < places % slots else 0)
            windows.append(
                {"start": s.time().isoformat(), "end": e.time().isoformat(), "capacity": cap}
            )
        body = {
            "service": self.hospital.code,
            "department": department,
            "department_name": department.title(),
            "practitioner": practitioner or f"dr-{next(_seq)}",
            "practitioner_name": "Dr Wang",
            "day": (day or tomorrow()).isoformat(),
            "period": period,
            "fee_fen": fee_fen,
            "slots": windows,
            **extra,
        }
        return await self.staff.post(self.url("/sessions"), json=body)

    async def book(
        self, user_id: str, slot: str, *, expect: int = 201, family_member: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"user_id": user_id, "slot": slot}
        if family_member:
            body["family_member"] = family_member
        return await self.channel.post(self.url("/bookings"), json=body, expect=expect)


async def appt_world(
    db: Database, api: Api, *, provider_id: str = "test-hospital", **config: Any
) -> ApptWorld:
    """A city, a hospital on the simulator (its connector `config` beside the provider id), a
    channel with every scope granted it, and staff."""
    city = await create_city(db)
    hospital = await connected_service(
        db,
        city=city,
        code=f"hospital-{next(_seq)}",
        connector="simulator:hospital",
        config={"provider_id": provider_id, **config},
        kind=ServiceKind.APPOINTMENT,
        category="medical",
        provider="Test Hospital",
    )
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=hospital)
    channel = await api.as_channel(login.client_id, login.secret)
    member = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    staff = await api.as_staff(member.username, PASSWORD)
    return ApptWorld(city, hospital, login, channel, staff, api, db)


async def verified_users(db: Database, login: ChannelLogin, count: int) -> list[str]:
    """`count` verified residents of the channel (written straight to the tables: the
    verification itself is tested in identity); their channel user ids."""
    v = vault()
    rows = []
    for _ in range(count):
        n = next(_people)
        number = id_number(n)
        rows.append(
            {
                "name_enc": v.encrypt(f"病人{n}"),
                "id_number_enc": v.encrypt(number),
                "id_number_hash": v.lookup_hash("id", number),
                "id_number_masked": mask_id_number(number),
                "verified_at": utcnow(),
                "identity_level": "channel_asserted",  # the channel vouched, as super-apps do
                "created_at": utcnow(),
            }
        )
    async with db.unit_of_work() as session:
        ids = list((await session.scalars(insert(Resident).returning(Resident.id), rows)).all())
        users = [f"u{rid}" for rid in ids]
        await session.execute(
            insert(ChannelUser),
            [
                {
                    "channel_id": login.channel.id,
                    "channel_user_id": u,
                    "resident_id": rid,
                    "created_at": utcnow(),
                }
                for u, rid in zip(users, ids, strict=True)
            ],
        )
    return users


async def expire_now(db: Database, booking_id: str, clock: Clock) -> None:
    """Time passes: the hub's clock moves past a booking's hold (or offer) and the grace its
    expiry job waits."""
    async with db.unit_of_work() as session:
        ends = await session.scalar(
            select(Booking.hold_expires_at).where(Booking.public_id == booking_id)
        )
    assert ends is not None, booking_id
    move_past(clock, ends, by=GRACE_SECONDS + 1)


async def the_day_comes(db: Database, booking_id: str, clock: Clock) -> dt.date:
    """Time passes: the hub's clock moves to 09:00, city time, on a booking's day; that day."""
    async with db.unit_of_work() as session:
        day = await session.scalar(select(Booking.day).where(Booking.public_id == booking_id))
    assert day is not None, booking_id
    move_past(clock, dt.datetime.combine(day, dt.time(9), CHINA))
    return day


async def slot_counts(db: Database, slot_public_id: str) -> tuple[int, int]:
    async with db.unit_of_work() as session:
        slot = await session.scalar(select(Slot).where(Slot.public_id == slot_public_id))
    assert slot is not None
    return slot.taken, slot.capacity


async def status_of(db: Database, booking_id: str) -> BookingStatus:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Booking.status).where(Booking.public_id == booking_id))
    assert found is not None
    return found


async def granted_hospital(world: ApptWorld, *, new_city: bool = False) -> ApptWorld:
    """Another hospital granted to the world's channel: in the world's city or in a new one
    (with staff of its own)."""
    db, city, staff = world.db, world.city, world.staff
    if new_city:
        city = await create_city(db)
        member = await create_staff(db, city=city, role=Role.CITY_ADMIN)
        staff = await world.api.as_staff(member.username, PASSWORD)
    hospital = await connected_service(
        db,
        city=city,
        code=f"hospital-{next(_seq)}",
        connector="simulator:hospital",
        config={"provider_id": "test-hospital"},
        kind=ServiceKind.APPOINTMENT,
        category="medical",
        provider="Other Hospital",
    )
    await create_grant(db, channel=world.login.channel, service=hospital)
    return ApptWorld(city, hospital, world.login, world.channel, staff, world.api, db)
