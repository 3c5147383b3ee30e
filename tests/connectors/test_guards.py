"""Guards belong to a city's service: one city's settings never reach another city's calls,
overrides have bounds, and a changed policy takes effect without a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.cities.models import City, Service
from cityhub.connectors.guarded import GuardedBiller
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.resilience import BreakerState, ProviderFailure, ProviderUnavailable
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Unavailable
from tests.cities.factories import create_category, create_city
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.identity.factories import PASSWORD, create_staff
from tests.simulators.fixtures import Sim

WATER: dict[str, Any] = {
    "code": "water",
    "category": "payments",
    "kind": "bill",
    "names": {"zh-Hans": "水费", "zh-Hant": "水費", "en": "Water"},
    "provider": "Xiamen Water",
    "connector": "simulator:water",
}


async def _biller(hub: ConnectorHub, db: Database, service: Service) -> GuardedBiller:
    async with db.unit_of_work() as session:
        biller = await hub.biller(session=session, service=service)
    assert isinstance(biller, GuardedBiller)
    return biller


async def _failing() -> None:
    raise ProviderFailure("HTTP 500")


async def _admin(api: Api, db: Database, city: City) -> Api:
    staff = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    return await api.as_staff(staff.username, PASSWORD)


async def test_one_citys_settings_never_reach_another_citys_guard(
    db: Database, hub: ConnectorHub, sim: Sim, settings: Settings
) -> None:
    xiamen = await connected_service(
        db, connector="simulator:water", config={"provider_id": "xm-water"}, code="water"
    )
    # Shanghai's admin points a service of Shanghai at Xiamen's biller, with a policy of its
    # own, and its calls fail.
    shanghai = await connected_service(
        db,
        connector="simulator:water",
        config={"provider_id": "xm-water", "resilience": {"failure_threshold": 1}},
        code="water",
    )
    theirs = await _biller(hub, db, shanghai)
    with pytest.raises(ProviderUnavailable):
        await theirs.guard.call("bills", _failing, idempotent=False)
    assert theirs.guard.breaker.state == BreakerState.OPEN

    ours = await _biller(hub, db, xiamen)
    assert ours.guard is not theirs.guard
    assert ours.guard.breaker.state == BreakerState.CLOSED
    assert ours.guard.policy.failure_threshold == settings.connector_failure_threshold
    account = sim.world.account_of("water", "xm-water", sim.world.people[0])
    assert await ours.bills(account=account)  # Xiamen's residents are still served
    shown = hub.snapshot()
    assert shown[f"{xiamen.city_id}/water"]["breaker"] == "closed"
    assert shown[f"{shanghai.city_id}/water"]["breaker"] == "open"
    assert shown[f"{xiamen.city_id}/water"]["provider"] == "water/xm-water"


async def test_a_changed_policy_takes_effect_without_a_restart(
    api: Api, db: Database, hub: ConnectorHub, sim: Sim
) -> None:
    city = await create_city(db)
    await create_category(db, code="payments")
    admin = await _admin(api, db, city)
    config = {"provider_id": "xm-water", "resilience": {"max_in_flight": 1}}
    await admin.post(f"/v1/cities/{city.slug}/services", json={**WATER, "connector_config": config})
    service = await _service(db, city, "water")
    biller = await _biller(hub, db, service)
    release = asyncio.Event()
    holder = asyncio.create_task(biller.guard.call("bills", release.wait, idempotent=True))
    for _ in range(1000):  # until the first call holds the only place
        if biller.guard.in_flight == 1:
            break
        await asyncio.sleep(0)
    with pytest.raises(ProviderUnavailable) as busy:
        await biller.guard.call("bills", release.wait, idempotent=True)
    assert busy.value.code == "provider_busy"

    wider = {**config, "resilience": {"max_in_flight": 2}}
    await admin.patch(f"/v1/cities/{city.slug}/services/water", json={"connector_config": wider})
    again = await _biller(hub, db, await _service(db, city, "water"))
    assert again.guard is biller.guard and again.guard.policy.max_in_flight == 2
    second = asyncio.create_task(again.guard.call("bills", release.wait, idempotent=True))
    for _ in range(1000):
        if again.guard.in_flight == 2:
            break
        await asyncio.sleep(0)
    assert again.guard.in_flight == 2  # admitted under the new cap, no restart
    release.set()
    await asyncio.gather(holder, second)
    assert again.guard.in_flight == 0


@pytest.mark.parametrize(
    ("resilience", "field"),
    [
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"max_in_flight": 100_000}, "max_in_flight"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 3600}, "timeout"),
        ({"retries": 50}, "retries"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"reset_after": -1}, "reset_after"),
        ({"max_response_bytes": 10}, "max_response_bytes"),
        ({"max_in_flight": "many"}, "max_in_flight"),
        ({"max_in_flight": True}, "max_in_flight"),
        ({"retries": 1.5}, "retries"),
        ({"backoff_base": 0}, "backoff_base"),
    ],
)
async def test_resilience_overrides_have_bounds_checked_when_written(
    api: Api, db: Database, resilience: dict[str, Any], field: str
) -> None:
    city = await create_city(db)
    await create_category(db, code="payments")
    admin = await _admin(api, db, city)
    url = f"/v1/cities/{city.slug}/services"
    config = {"provider_id": "xm-water", "resilience": resilience}
    problem = await admin.post(url, json={**WATER, "connector_config": config}, expect=422)
    assert problem["field"] == f"connector_config.resilience.{field}", problem
    await admin.post(url, json={**WATER, "connector_config": {"provider_id": "xm-water"}})
    problem = await admin.patch(f"{url}/water", json={"connector_config": config}, expect=422)
    assert problem["field"] == f"connector_config.resilience.{field}", problem
    shown = await admin.get(f"{url}/water")
    assert shown["connector_config"] == {"provider_id": "xm-water"}  # nothing half-written


async def test_a_policy_stored_out_of_bounds_is_refused_at_call_time(
    db: Database, hub: ConnectorHub
) -> None:
    """A row written before the bounds were checked cannot cut a provider off either."""
    service = await connected_service(
        db,
        connector="simulator:water",
        config={"provider_id": "xm-water", "resilience": {"max_in_flight": 0}},
    )
    async with db.unit_of_work() as session:
        with pytest.raises(Unavailable) as caught:
            await hub.biller(session=session, service=service)
    assert caught.value.code == "connector_misconfigured"
    assert "max_in_flight" in str(caught.value)


async def _service(db: Database, city: City, code: str) -> Service:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(Service).where(Service.city_id == city.id, Service.code == code)
        )
    assert found is not None
    return found
