"""Provider staff are bound to their provider: another provider's objects in the same city do
not exist for them (404), and every such attempt is on the audit log."""

from __future__ import annotations

from sqlalchemy import func, select

from cityhub.billing.models import Refund
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.billing.factories import pay_world
from tests.client import Api
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim


async def _refusals(db: Database) -> list[AuditEntry]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "staff.provider_refused")
        )
        return list(rows.all())


async def test_gas_staff_cannot_reverse_a_water_payment(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    payment = await world.pay(world.unpaid("water")[0])
    await drain(db, settings)
    gas = await world.staff(Role.PROVIDER_STAFF, provider="gas")
    url = world.url(f"/payments/{payment['id']}/biller-reversal")
    problem = await gas.post(url, json={"reason": "not ours"}, expect=404)
    assert problem["code"] == "payment_not_found"
    assert (await gas.get(world.url(f"/payments/{payment['id']}"), expect=404))["code"] == (
        "payment_not_found"
    )
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Refund)) == 0
    refused = await _refusals(db)
    assert [(r.object_type, r.object_id, r.city_id) for r in refused] == [
        ("payment", payment["id"], world.city.id)
    ] * 2
    assert refused[0].details["provider"] == world.services["water"].provider
    assert refused[0].details["status"] == 404
    assert (await gas.get(world.url("/payments")))["items"] == []
    # the water company's own staff may, and an unbound provider_staff role may not
    water = await world.staff(Role.PROVIDER_STAFF, provider="water")
    listed = await water.get(world.url("/payments"))
    assert [p["id"] for p in listed["items"]] == [payment["id"]]
    done = await water.post(url, json={"reason": "meter error"})
    assert done["source"] == "biller_reversal"
    unbound = await world.staff(Role.PROVIDER_STAFF)
    await unbound.post(url, json={"reason": "x"}, expect=404)
    for client in (gas, water, unbound):
        await client.client.aclose()
