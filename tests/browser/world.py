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
from cityhub.identity import audit
from cityhub.identity.models import Channel, Role, StaffUser
from cityhub.notices import sending
from cityhub.notices import service as notices
from cityhub.notices.schemas import AccountCreate, NoticeCreate, TemplateCreate, TopicCreate
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.cities.factories import create_city, create_grant
from tests.connectors.factories import connected_service
from tests.identity.factories import ChannelLogin, create_channel, create_staff, registry_service
from tests.simulators.fixtures import Sim

PHONES = ["13800138000", "13912345678", "15011112222"]
NAMES = {
    "water": ("水费", "水費", "Water"),
    "power": ("电费", "電費", "Electricity"),
    "gas": ("燃气费", "燃氣費", "Gas"),
    "air-quality": ("空气质量", "空氣品質", "Air quality"),
    "traffic-violations": ("交通违法", "交通違法", "Traffic violations"),
    "car-plates": ("小客车号牌摇号", "小客車號牌搖號", "Car plate lottery"),
    "housing-fund": ("公积金查询", "公積金查詢", "Housing fund"),
    "hospital": ("第一人民医院", "第一人民醫院", "First People's Hospital"),
}
# Who answers for each service, in the three languages.
PROVIDERS = {
    "water": ("网城自来水公司", "網城自來水公司", "Webtown Water"),
    "power": ("网城供电公司", "網城供電公司", "Webtown Power"),
    "gas": ("网城燃气公司", "網城燃氣公司", "Webtown Gas"),
    "air-quality": ("网城生态环境局", "網城生態環境局", "Webtown Environment Bureau"),
    "traffic-violations": ("网城交警支队", "網城交警支隊", "Webtown Traffic Police"),
    "car-plates": ("网城车辆管理所", "網城車輛管理所", "Webtown Vehicle Administration"),
    "housing-fund": ("网城住房公积金中心", "網城住房公積金中心", "Webtown Housing Fund Centre"),
    "hospital": NAMES["hospital"],
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


def _texts(names: tuple[str, str, str]) -> dict[str, str]:
    return dict(zip(("zh-Hans", "zh-Hant", "en"), names, strict=True))


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
            .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en,
                    provider_names=_texts(PROVIDERS[code]))
        )  # fmt: skip
        await session.execute(
            update(ServiceCategory)
            .where(ServiceCategory.code == "payments")
            .values(name_zh_hans="生活缴费", name_zh_hant="生活繳費", name_en="Bills")
        )
    service.name_zh_hans, service.name_zh_hant, service.name_en = hans, hant, en
    return service


# Queries (public and personal) and a lottery, on the simulated agencies.
OTHER_SERVICES = {
    "air-quality": ("simulator:environment", "sh-env", ServiceKind.QUERY, "air_quality"),
    "traffic-violations": (
        "simulator:traffic",
        "sh-traffic",
        ServiceKind.QUERY,
        "traffic_violations",
    ),
    "car-plates": ("simulator:vehicle-admin", "sh-vehicles", ServiceKind.LOTTERY, None),
    "housing-fund": ("simulator:housing-fund", "sh-hf", ServiceKind.QUERY, "housing_fund"),
}


async def _other_services(db: Database, city: City) -> dict[str, Service]:
    found = {}
    for code, (connector, provider, kind, query) in OTHER_SERVICES.items():
        config = {"provider_id": provider} | ({"query": query} if query else {})
        found[code] = await connected_service(
            db,
            city=city,
            code=code,
            connector=connector,
            config=config,
            kind=kind,
            category="queries" if kind == ServiceKind.QUERY else "lotteries",
            provider=f"{code} office",
        )
        hans, hant, en = NAMES[code]
        async with db.unit_of_work() as session:
            await session.execute(
                update(Service)
                .where(Service.id == found[code].id)
                .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en,
                        provider_names=_texts(PROVIDERS[code]))
            )  # fmt: skip
        found[code].name_zh_hans, found[code].name_zh_hant, found[code].name_en = hans, hant, en
    return found


OUTAGE = {
    "en": {"title": "Water outage in {district}", "body": "No water in {district} for {hours} h."},
    "zh-Hans": {"title": "{district}停水通知", "body": "{district}停水 {hours} 小时。"},
    "zh-Hant": {"title": "{district}停水通知", "body": "{district}停水 {hours} 小時。"},
}


async def notice_account(db: Database, city: City) -> None:
    """The city's water company account, its topic `outages` and its template `outage`."""
    async with db.unit_of_work() as session:
        account = await notices.create_account(
            session=session,
            city_id=city.id,
            account_in=AccountCreate(
                code="water-co",
                name="Water company",
                agency="Water",
                names=_texts(("自来水公司", "自來水公司", "Water company")),
                agency_names=_texts(("供水", "供水", "Water supply")),
            ),
        )
        await notices.create_topic(
            session=session,
            account=account,
            topic_in=TopicCreate(
                code="outages",
                name="Water outages",
                names=_texts(("停水通知", "停水通知", "Water outages")),
            ),
        )
        await notices.create_template(
            session=session,
            account=account,
            template_in=TemplateCreate.model_validate(
                {
                    "code": "outage",
                    "placeholders": {"district": "text", "hours": "int"},
                    "texts": OUTAGE,
                }
            ),
        )


async def send_notice(db: Database, city: City, district: str, hours: int = 4) -> str:
    """Staff send the water outage notice to the account's followers; its public id."""
    async with db.unit_of_work() as session:
        notice = await sending.create(
            session=session,
            city=city,
            actor=audit.Actor(type="staff", id="tests", name="tests"),
            notice_in=NoticeCreate(
                account="water-co",
                template="outage",
                values={"district": district, "hours": hours},
            ),
        )
        return notice.public_id


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
            .values(name_zh_hans=hans, name_zh_hant=hant, name_en=en,
                    provider_names=_texts(PROVIDERS["hospital"]))
        )  # fmt: skip
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
                    department_name="心内科",
                    department_names=_texts(("心内科", "心內科", "Cardiology")),
                    practitioner=doctor,
                    practitioner_name="李明",
                    practitioner_title="主任医师",
                    practitioner_titles=_texts(("主任医师", "主任醫師", "Chief physician")),
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


# The portal's names in the three languages (the pages show the reader's).
PORTAL_NAMES = {"zh-Hans": "网城门户", "zh-Hant": "網城門戶", "en": "Webtown portal"}


async def web_world(db: Database, sim: Sim) -> WebWorld:
    """Build the world; the portal channel is the hub's own (kind `portal`)."""
    city = await _city(db, "webtown", ("网城", "網城", "Webtown"))
    other = await _city(db, "othertown", ("他城", "他城", "Othertown"))
    portal = await create_channel(db, slug="portal")
    async with db.unit_of_work() as session:
        await session.execute(
            update(Channel)
            .where(Channel.id == portal.channel.id)
            .values(kind="portal", names=PORTAL_NAMES)
        )
    services = {
        "water": await _bill_service(db, city, "water", "sh-water"),
        "power": await _bill_service(db, city, "power", "sh-power"),
    }
    other_water = await _bill_service(db, other, "water", "sh-water")
    services |= await _other_services(db, city)
    hospital, sessions = await _hospital(db, city)
    await registry_service(db, city=city)
    async with db.unit_of_work() as session:
        await session.execute(
            update(Service)
            .where(Service.city_id == city.id, Service.code == "population-registry")
            .values(name_zh_hans="人口信息核验", name_zh_hant="人口資訊核驗",
                    name_en="Population registry",
                    provider_names=_texts(("网城公安局", "網城公安局", "Webtown Police")))
        )  # fmt: skip
    for service in [*services.values(), other_water, hospital]:
        await create_grant(db, channel=portal.channel, service=service)
    await notice_account(db, city)
    await notice_account(db, other)
    admin = await create_staff(db, city=city, role=Role.CITY_ADMIN, username="webadmin")
    other_admin = await create_staff(db, city=other, role=Role.CITY_ADMIN, username="otheradmin")
    clerk = await create_staff(
        db, city=city, role=Role.PROVIDER_STAFF, username="deskclerk", provider=hospital.provider
    )
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


async def with_gas(db: Database, world: WebWorld) -> Service:
    """Webtown's gas bills too (the simulated gas company takes advance payments), granted to
    the portal; kept in `world.services`."""
    gas = await _bill_service(db, world.city, "gas", "sh-gas")
    await create_grant(db, channel=world.portal.channel, service=gas)
    world.services["gas"] = gas
    return gas
