"""Notice factories: a city with a government account and template, a channel granted the
city with its webhook, staff, residents, and the steps a channel and staff take."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from cityhub.cities.models import City
from cityhub.identity.models import Role
from cityhub.notices.models import NoticeDelivery, NoticeRecipient
from cityhub.outbox import Dispatcher, load_handlers
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, ChannelLogin, create_channel, create_staff
from tests.outbox_helpers import Delivery

HOOK_SECRET = "whsec-notices-tests"
_keys = itertools.count(1)
_phones = itertools.count(13800000001)


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"notice-key-{next(_keys)}"}


@dataclass
class NoticeWorld:
    """A city with the water company's account (template `outage`), a channel granted it."""

    city: City
    db: Database
    api: Api
    settings: Settings
    staff: Api
    login: ChannelLogin
    channel: Api
    phones: dict[str, str] = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        """A path under the city."""
        return f"/v1/cities/{self.city.slug}{path}"

    async def resident(
        self, user_id: str, *, phone: bool = True, channel: Api | None = None
    ) -> dict[str, Any]:
        """Register the channel's user (with a phone number unless told otherwise)."""
        body: dict[str, Any] = {"user_id": user_id}
        if phone:
            self.phones[user_id] = body["phone"] = str(next(_phones))
        return await (channel or self.channel).post("/v1/residents", json=body, expect=201)

    async def follow(
        self,
        user_id: str,
        *,
        account: str = "water-co",
        topic: str | None = None,
        channel: Api | None = None,
        expect: int = 201,
    ) -> Any:
        """The user follows an account (or a topic of it)."""
        body: dict[str, Any] = {"city": self.city.slug, "account": account}
        if topic:
            body["topic"] = topic
        return await (channel or self.channel).post(
            f"/v1/residents/{user_id}/follows", json=body, headers=key(), expect=expect
        )

    async def send(self, *, expect: int = 201, **body: Any) -> Any:
        """Staff send a notice (the water outage template unless told otherwise)."""
        notice = {
            "account": "water-co",
            "template": "outage",
            "values": {"district": "Pudong", "hours": 4},
            **body,
        }
        return await self.staff.post(
            self.url("/notices"), json=notice, headers=key(), expect=expect
        )

    async def inbox(self, user_id: str, channel: Api | None = None, **params: Any) -> Any:
        """The user's inbox as the channel sees it."""
        return await (channel or self.channel).get(
            f"/v1/residents/{user_id}/notices", params=params
        )

    async def stats(self, notice_id: str) -> dict[str, int]:
        """A notice's figures as staff see them."""
        found = await self.staff.get(self.url(f"/notices/{notice_id}"))
        stats: dict[str, int] = found["stats"]
        return stats

    async def drain(self) -> None:
        """Carry out every due outbox event."""
        dispatcher = Dispatcher(self.db, self.settings, registry=load_handlers())
        try:
            await dispatcher.drain()
        finally:
            await dispatcher.close()

    async def no_quiet_hours(self, **extra: Any) -> None:
        """Push at any hour (tests run at any time of day)."""
        await self.staff.patch(
            self.url("/notice-settings"),
            json={"quiet_start": "00:00", "quiet_end": "00:00", **extra},
        )


async def notice_world(
    db: Database, api: Api, settings: Settings, *, webhook_url: str | None
) -> NoticeWorld:
    """Build the world: city, water bill service granted to a channel, account, template."""
    city = await create_city(db)
    water = await create_service(db, city=city, code="water")
    login = await create_channel(
        db, webhook_url=webhook_url, webhook_secret=HOOK_SECRET if webhook_url else None
    )
    await create_grant(db, channel=login.channel, service=water)
    member = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    staff = await api.as_staff(member.username, PASSWORD)
    channel = await api.as_channel(login.client_id, login.secret)
    world = NoticeWorld(
        city=city, db=db, api=api, settings=settings, staff=staff, login=login, channel=channel
    )
    await staff.post(
        world.url("/notice-accounts"),
        json={"code": "water-co", "name": "Water company", "agency": "Water", "service": "water"},
        headers=key(),
    )
    await staff.post(
        world.url("/notice-accounts/water-co/topics"),
        json={"code": "outages-pudong", "name": "Water outages, Pudong"},
        headers=key(),
    )
    await staff.post(
        world.url("/notice-accounts/water-co/templates"),
        json={
            "code": "outage",
            "placeholders": {"district": "text", "hours": "int"},
            "texts": {
                "en": {"title": "Water outage", "body": "No water in {district} for {hours} h."},
                "zh-Hans": {"title": "停水通知", "body": "{district}停水 {hours} 小时。"},
            },
        },
        headers=key(),
    )
    await world.no_quiet_hours()
    return world


async def inbox_rows(db: Database) -> tuple[int, int]:
    """Inbox rows, and distinct (notice, resident) pairs among them."""
    async with db.unit_of_work() as session:
        total = await session.scalar(select(func.count()).select_from(NoticeRecipient))
        pairs = await session.scalar(
            select(func.count()).select_from(
                select(NoticeRecipient.notice_id, NoticeRecipient.resident_id).distinct().subquery()
            )
        )
    return int(total or 0), int(pairs or 0)


async def deliveries(db: Database) -> list[NoticeDelivery]:
    """Every delivery row, oldest first."""
    async with db.unit_of_work() as session:
        return list(
            (await session.scalars(select(NoticeDelivery).order_by(NoticeDelivery.id))).all()
        )


def batches(received: list[Delivery]) -> list[dict[str, Any]]:
    """The notice batches a channel received."""
    bodies = [json.loads(d.body) for d in received]
    return [b for b in bodies if b["type"] == "notices.batch"]
