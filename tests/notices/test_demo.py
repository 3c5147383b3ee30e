"""The demo world's government accounts load and can send at once."""

from __future__ import annotations

from sqlalchemy import func, insert, select

from cityhub.identity.models import Resident
from cityhub.notices import demo
from cityhub.notices.models import Follow, GovAccount, NoticeTemplate
from cityhub.notices.render import render
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_service


async def test_each_city_gets_three_accounts_with_templates_and_followers(db: Database) -> None:
    city = await create_city(db)
    water = await create_service(db, city=city, code="water-bill")
    async with db.unit_of_work() as session:
        await session.execute(insert(Resident), [{"phone_masked": None} for _ in range(3)])
    async with db.unit_of_work() as session:
        assert await demo.load(session=session, cities=[city]) == 3
    async with db.unit_of_work() as session:
        accounts = {
            a.code: a
            for a in await session.scalars(select(GovAccount).where(GovAccount.city_id == city.id))
        }
        follows = await session.scalar(select(func.count()).select_from(Follow))
        templates = list((await session.scalars(select(NoticeTemplate))).all())
    assert set(accounts) == {"water-co", "traffic-police", "city-hall"}
    assert accounts["water-co"].service_id == water.id
    assert follows == 9
    for template in templates:  # every demo template renders in all three languages
        values = {
            name: {"text": "X", "int": 2, "date": "2026-12-01", "money": 100}[kind]
            for name, kind in template.placeholders.items()
        }
        assert set(render(template.placeholders, template.texts, values)) == {
            "zh-Hans",
            "zh-Hant",
            "en",
        }
