"""Provider staff are bound to their provider: another provider's objects in the same city do
not exist for them (404), and every such attempt is on the audit log."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff
from tests.notices.factories import key, notice_world


async def _refusals(db: Database) -> list[AuditEntry]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.provider_refused")
        )
        return list(rows.all())


async def test_provider_staff_speak_only_for_their_provider(
    api: Api, db: Database, settings: Settings
) -> None:
    world = await notice_world(db, api, settings, webhook_url=None)
    gas = await create_staff(db, city=world.city, role=Role.PROVIDER_STAFF, provider="Gas Co")
    clerk = await api.as_staff(gas.username, PASSWORD)
    notice = {"account": "water-co", "template": "outage", "values": {"district": "P", "hours": 1}}
    sent = await clerk.post(world.url("/notices"), json=notice, headers=key(), expect=404)
    assert sent["code"] == "account_not_found"
    template = {"code": "t2", "placeholders": {}, "texts": {"en": {"title": "T", "body": "B"}}}
    await clerk.post(
        world.url("/notice-accounts/water-co/templates"), json=template, headers=key(), expect=404
    )
    assert len(await _refusals(db)) == 2
    water = await create_staff(
        db, city=world.city, role=Role.PROVIDER_STAFF, provider="Test Provider"
    )
    own = await api.as_staff(water.username, PASSWORD)
    await own.post(world.url("/notices"), json=notice, headers=key())
    await clerk.client.aclose()
    await own.client.aclose()
