"""Request factories: a city with its hotline granted to a channel, a roads department with
its head and a member, a street-light type with attributes, and the steps people take."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from cityhub.cities.models import City, ServiceKind
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.requests.models import RequestEvent, RequestPhoto, ServiceRequest
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, ChannelLogin, create_channel, create_staff

_keys = itertools.count(1)
_phones = itertools.count(13900000001)
# Inside the test city's area (a box around central Shanghai) and its district "huangpu".
INSIDE = {"lat": 31.2304, "lon": 121.4737}
OUTSIDE = {"lat": 39.9042, "lon": 116.4074}  # Beijing


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"request-key-{next(_keys)}"}


def texts(en: str) -> dict[str, str]:
    return {"zh-Hans": f"{en}（简）", "zh-Hant": f"{en}（繁）", "en": en}


STREETLIGHT: dict[str, Any] = {
    "code": "streetlight",
    "group": "roads",
    "keywords": ["light", "lamp"],
    "names": texts("Street light out"),
    "descriptions": texts("A street light is broken or off at night"),
    "department": "roads",
    "sla_hours": 16,
    "attributes": [
        {
            "code": "pole",
            "datatype": "string",
            "required": False,
            "order": 2,
            "descriptions": texts("Number on the pole"),
        },
        {
            "code": "kind",
            "datatype": "singlevaluelist",
            "required": True,
            "order": 1,
            "descriptions": texts("What is wrong"),
            "values": [
                {"key": "off", "names": texts("Off at night")},
                {"key": "flicker", "names": texts("Flickering")},
            ],
        },
        {
            "code": "count",
            "datatype": "number",
            "order": 3,
            "descriptions": texts("How many lights"),
        },
    ],
}


def jpeg(*, gps: bool = True, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG photo, with a GPS block in its EXIF when `gps`."""
    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if gps:
        exif[0x8825] = {1: "N", 2: (31.0, 13.0, 49.0), 3: "E", 4: (121.0, 28.0, 25.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


@dataclass
class RequestWorld:
    """The city, its admin, the roads department's head and member, a channel granted the
    hotline, and a second department (parks) for transfers."""

    city: City
    db: Database
    api: Api
    settings: Settings
    admin: Api
    head: Api
    member: Api
    member_name: str
    outsider: Api
    login: ChannelLogin
    channel: Api

    def url(self, path: str = "") -> str:
        return f"/v1/cities/{self.city.slug}{path}"

    async def resident(self, user_id: str) -> dict[str, Any]:
        """Register the channel's user."""
        body = {"user_id": user_id, "phone": str(next(_phones))}
        return await self.channel.post("/v1/residents", json=body, expect=201)

    async def report(self, *, expect: int = 201, **body: Any) -> Any:
        """The channel reports a street light out (inside the city unless told otherwise)."""
        report = {
            "type": "streetlight",
            "description": "The light at the corner is off",
            **INSIDE,
            "attributes": {"kind": "off"},
            **body,
        }
        return await self.channel.post(
            self.url("/requests"), json=report, headers=key(), expect=expect
        )

    async def step(self, request_id: str, step: str, *, who: Api | None = None,
                   expect: int = 200, **body: Any) -> Any:  # fmt: skip
        """A staff step on a request (the department member's unless told otherwise)."""
        return await (who or self.member).post(
            self.url(f"/requests/{request_id}/{step}"), json=body, expect=expect
        )


async def request_world(db: Database, api: Api, settings: Settings) -> RequestWorld:
    """Build the world through the API, as a city admin would."""
    city = await create_city(db)
    hotline = await create_service(
        db, city=city, code="hotline-12345", kind=ServiceKind.REQUEST, category="government_affairs"
    )
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=hotline)
    admin_user = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    head_user = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    member_user = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    outsider_user = await create_staff(db, city=city, role=Role.PROVIDER_STAFF)
    admin = await api.as_staff(admin_user.username, PASSWORD)
    world = RequestWorld(
        city=city,
        db=db,
        api=api,
        settings=settings,
        admin=admin,
        head=await api.as_staff(head_user.username, PASSWORD),
        member=await api.as_staff(member_user.username, PASSWORD),
        member_name=member_user.username,
        outsider=await api.as_staff(outsider_user.username, PASSWORD),
        login=login,
        channel=await api.as_channel(login.client_id, login.secret),
    )
    await admin.patch(
        world.url("/request-settings"),
        json={
            "area": {"south": 30.7, "west": 120.85, "north": 31.9, "east": 122.2},
            "districts": [
                {
                    "code": "huangpu",
                    "names": texts("Huangpu"),
                    "area": {"south": 31.19, "west": 121.45, "north": 31.26, "east": 121.51},
                }
            ],
            "holidays": ["2027-01-01"],
        },
    )
    await admin.post(
        world.url("/request-departments"),
        json={"code": "roads", "names": texts("Roads"), "head": head_user.username},
        headers=key(),
    )
    await admin.post(
        world.url("/request-departments/roads/members"),
        json={"username": member_user.username},
        expect=200,
    )
    await admin.post(
        world.url("/request-departments"),
        json={"code": "parks", "names": texts("Parks")},
        headers=key(),
    )
    await admin.post(world.url("/request-types"), json=STREETLIGHT, headers=key())
    return world


async def setup_city(db: Database, city: City, *, head: str, member: str) -> None:
    """Give a city (of another world) the roads department and the street-light type, with
    the test area, through the service functions a city admin's calls reach."""
    from cityhub.identity.audit import Actor
    from cityhub.requests import catalogue
    from cityhub.requests.schemas import (
        DepartmentCreate,
        RequestSettingsUpdate,
        RequestTypeCreate,
    )

    actor = Actor.system()
    async with db.unit_of_work() as session:
        await catalogue.update_settings(
            session=session,
            actor=actor,
            city=city,
            settings_in=RequestSettingsUpdate.model_validate(
                {"area": {"south": 30.7, "west": 120.85, "north": 31.9, "east": 122.2}}
            ),
        )
        await catalogue.create_department(
            session=session,
            actor=actor,
            city=city,
            department_in=DepartmentCreate.model_validate(
                {"code": "roads", "names": texts("Roads"), "head": head}
            ),
        )
        await catalogue.add_member(
            session=session, actor=actor, city=city, code="roads", username=member
        )
        await catalogue.create_department(
            session=session,
            actor=actor,
            city=city,
            department_in=DepartmentCreate.model_validate(
                {"code": "parks", "names": texts("Parks")}
            ),
        )
        await catalogue.create_type(
            session=session,
            actor=actor,
            city=city,
            type_in=RequestTypeCreate.model_validate(STREETLIGHT),
        )


async def stored(world: RequestWorld) -> tuple[int, int, int, int]:
    """Requests, photos, timeline rows and photo files stored."""
    async with world.db.unit_of_work() as session:
        counts = [
            int(await session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (ServiceRequest, RequestPhoto, RequestEvent)
        ]
    folder = world.settings.data / "requests"
    files = len(list(folder.rglob("*.*"))) if folder.exists() else 0
    return counts[0], counts[1], counts[2], files
