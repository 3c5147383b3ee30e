"""The demo world's requests: every city has its types, departments, area and calendar, and
its hotline is reachable from the portal channel and through Open311."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cityhub.demo import loader
from cityhub.platform.db import Database
from cityhub.requests.models import Department, RequestType, ServiceRequest
from tests.client import Api
from tests.identity.factories import vault


@pytest.mark.slow
async def test_every_demo_city_can_take_reports(db: Database, api: Api) -> None:
    async with db.unit_of_work() as session:
        await loader.load(session=session, vault=vault(), residents=20)
    async with db.unit_of_work() as session:
        types = await session.scalar(select(func.count()).select_from(RequestType))
        departments = await session.scalar(select(func.count()).select_from(Department))
        made = await session.scalar(select(func.count()).select_from(ServiceRequest))
    assert (types, departments, made) == (12 * 5, 12 * 4, 12 * 3)
    found = (await api.get("/v1/cities/shanghai/request-types"))["items"]
    assert [t["code"] for t in found][:2] == ["streetlight", "road-damage"]
    assert found[0]["names"]["zh-Hans"] == "路灯不亮"
    public = await api.get("/open311/v2/xiamen/requests.json")
    assert len(public) == 3 and all("description" not in r for r in public)
    channel = await api.as_channel("ch_portal", "demo-portal-secret")
    nearby = await channel.get(
        "/v1/cities/shanghai/requests/nearby",
        params={"type": "streetlight", "lat": 31.2344, "lon": 121.4767},
    )
    assert len(nearby["items"]) == 1 and nearby["next_cursor"] is None
