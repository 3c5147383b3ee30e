"""The small world of the browser tests: two cities with bill services on the simulators, a
hospital with sessions, the hub's portal channel granted them, a city admin in each city, the
hospital's desk clerk, and residents' phone numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import update

from cityhub.appointments import schedules
from cityhub.appointments.schemas import SessionCreate, SlotIn
from cityhub.cities.models import City, Service, ServiceCategory, ServiceKind
from cityhub.db import Database
from cityhub.identity.models import Channel, Role, StaffUser
from cityhub.simulators.world import CHINA
from tests.cities.factories import create_city, create_grant
from tests.connectors.factories import connected_service
from tests.identity.factories import ChannelLogin, create_channel, create_staff
from tests.simulators.fixtures import Sim

PHONES = ["13800138000", "13912345678", "15011112222"]
NAMES = {
    "water": ("水费", "水費", "Water"),
    "power": ("电费", "電費", "Electricity"),
    "hospital": ("第一人民医院", "第一人民醫院", "First People's Hospital"),
}
FEE_FEN = 1500  # the registration fee of the hospital's sessions


@dataclass
class Bill:
    """An unpaid bill of the simulated world."""

    service: str
    account: str
    bill_id: str
    amount_fen: int


@dataclass
class WebWorld:
    city: City
    other_city: City
    services: dict[str, Service]
    portal: ChannelLogin
    admin: StaffUser
    other_admin: StaffUser
    sim: Sim
    hospital: Service
    clerk: StaffUser  # the hospital's desk (provider staff)
    sessions: dict[str, str]  # "open" (tomorrow), "later" (not open yet) -> public id
    phones: list[str] = field(default_factory=lambda: list(PHONES))
    used: set[str] = field(default_factory=set)

    def unpaid(self, service: str = "water") -> Bill:
        """An unpaid bill of the service that no earlier call handed out."""
        row = self.services[service]
        provider = row.connector_config["provider_id"]
        kind = row.connector.split(":")[1]
        today = dt.datetime.now(CHINA).date()
        for person in self.sim.world.people:
            account = self.sim.world.account_of(kind, provider, person)
            for bill in self.sim.world.bills(kind, provider, account, today):
                if bill["status"] == "unpaid" and bill["id"] not in self.used:
                    self.used.add(bill["id"])
                    return Bill(service, account, bill["id"], bill["amount_fen"])
        raise AssertionError(f"no unpaid {service} bill left in the simulated world")


async def _city(db: Database, slug: str, names: tuple[str, str, str]) -> City:
    city = await create_city(db, slug=slug)
    async with db.unit_of_work() as session:
        await session.execute(
            update(City)
            .where(City.id == city.id)
            .values(name_zh_hans=names[0], name_zh_hant=names[1], name_en=names[2])
        )
    city.name_zh_hans, city.name_zh_hant, city.name_en = names
    return city


async def _bill_service(db: Database, city: City, code: str, provider: str) -> Service:
    service = await connected_service(
        db,
        city=city,
        code=code,
        connector=f"simulator:{code}",
        config={"provider_id": provider},
        provider=f"{NAMES[code][2]} company",
    )
    hans, hant, en = NAMES[code]
    async with db.unit_of_work() as session:
        await session.execute(
            update(Service)
            .where(Service.id == service.id)
            .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en)
        )
        await session.execute(
            update(ServiceCategory)
            .where(ServiceCategory.code == "payments")
            .values(name_zh_hans="生活缴费", name_zh_hant="生活繳費", name_en="Bills")
        )
    service.name_zh_hans, service.name_zh_hant, service.name_en = hans, hant, en
    return service


async def _hospital(db: Database, city: City) -> tuple[Service, dict[str, str]]:
    """A hospital on the simulator with a session tomorrow (two slots, a fee) and one whose
    booking has not opened yet (beyond the city's 7-day window)."""
    service = await connected_service(
        db,
        city=city,
        code="hospital",
        connector="simulator:hospital",
        config={"provider_id": "sim-hospital"},
        kind=ServiceKind.APPOINTMENT,
        category="medical",
        provider="First People's Hospital",
    )
    hans, hant, en = NAMES["hospital"]
    today = dt.datetime.now(CHINA).date()
    made = {}
    async with db.unit_of_work() as session:
        await session.execute(
            update(Service)
            .where(Service.id == service.id)
            .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en)
        )
        for name, day, doctor in [
            ("open", today + dt.timedelta(days=1), "dr-li"),
            ("later", today + dt.timedelta(days=10), "dr-li"),
        ]:
            clinic = await schedules.create_session(
                session=session,
                city=city,
                session_in=SessionCreate(
                    service="hospital",
                    department="cardiology",
                    department_name="心内科 Cardiology",
                    practitioner=doctor,
                    practitioner_name="李医生 Dr Li",
                    practitioner_title="主任医师",
                    day=day,
                    period="morning",
                    fee_fen=FEE_FEN,
                    slots=[
                        SlotIn(start=dt.time(9, 0), end=dt.time(9, 30), capacity=2),
                        SlotIn(start=dt.time(9, 30), end=dt.time(10, 0), capacity=1),
                    ],
                ),
            )
            made[name] = clinic.public_id
    service.name_zh_hans, service.name_zh_hant, service.name_en = hans, hant, en
    return service, made


async def web_world(db: Database, sim: Sim) -> WebWorld:
    """Build the world; the portal channel is the hub's own (kind `portal`)."""
    city = await _city(db, "webtown", ("网城", "網城", "Webtown"))
    other = await _city(db, "othertown", ("他城", "他城", "Othertown"))
    portal = await create_channel(db, slug="portal")
    async with db.unit_of_work() as session:
        await session.execute(
            update(Channel).where(Channel.id == portal.channel.id).values(kind="portal")
        )
    services = {
        "water": await _bill_service(db, city, "water", "sh-water"),
        "power": await _bill_service(db, city, "power", "sh-power"),
    }
    other_water = await _bill_service(db, other, "water", "sh-water")
    hospital, sessions = await _hospital(db, city)
    for service in [*services.values(), other_water, hospital]:
        await create_grant(db, channel=portal.channel, service=service)
    admin = await create_staff(db, city=city, role=Role.CITY_ADMIN, username="webadmin")
    other_admin = await create_staff(db, city=other, role=Role.CITY_ADMIN, username="otheradmin")
    clerk = await create_staff(db, city=city, role=Role.PROVIDER_STAFF, username="deskclerk")
    return WebWorld(
        city=city,
        other_city=other,
        services=services,
        portal=portal,
        admin=admin,
        other_admin=other_admin,
        sim=sim,
        hospital=hospital,
        clerk=clerk,
        sessions=sessions,
    )
