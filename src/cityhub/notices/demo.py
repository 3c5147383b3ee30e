"""The demo world's government accounts: per city a water company, the traffic police and
the city hall, with topics, a template each, and some of the demo's residents following."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities_service
from cityhub.identity import residents as identity
from cityhub.notices.models import Follow, GovAccount, NoticeTemplate, NoticeTopic
from cityhub.platform.db import utcnow

if TYPE_CHECKING:
    from cityhub.cities.models import City

FOLLOWERS = 50  # residents following each city's accounts
CATALOGUE_LIMIT = 1000  # more than any demo city's services

ACCOUNTS: tuple[dict[str, Any], ...] = (
    {
        "code": "water-co",
        "name": "Water company",
        "names": {"zh-Hans": "自来水公司", "zh-Hant": "自來水公司", "en": "Water company"},
        "agency": "Water supply",
        "agency_names": {"zh-Hans": "供水", "zh-Hant": "供水", "en": "Water supply"},
        "service": "water-bill",
        "topics": [
            ("outages", {"zh-Hans": "停水通知", "zh-Hant": "停水通知", "en": "Water outages"})
        ],
        "template": (
            "outage",
            {"district": "text", "hours": "int"},
            {
                "zh-Hans": {"title": "停水通知", "body": "{district}将停水 {hours} 小时。"},
                "zh-Hant": {"title": "停水通知", "body": "{district}將停水 {hours} 小時。"},
                "en": {"title": "Water outage", "body": "No water in {district} for {hours} h."},
            },
        ),
    },
    {
        "code": "traffic-police",
        "name": "Traffic police",
        "names": {"zh-Hans": "交警", "zh-Hant": "交警", "en": "Traffic police"},
        "agency": "Public security",
        "agency_names": {"zh-Hans": "公安局", "zh-Hant": "公安局", "en": "Public security"},
        "service": None,
        "topics": [
            ("closures", {"zh-Hans": "交通管制", "zh-Hant": "交通管制", "en": "Road closures"})
        ],
        "template": (
            "closure",
            {"road": "text", "date": "date"},
            {
                "zh-Hans": {"title": "交通管制", "body": "{date} {road}实行交通管制。"},
                "zh-Hant": {"title": "交通管制", "body": "{date} {road}實行交通管制。"},
                "en": {"title": "Road closure", "body": "{road} is closed on {date}."},
            },
        ),
    },
    {
        "code": "city-hall",
        "name": "City hall",
        "names": {"zh-Hans": "市政府", "zh-Hant": "市政府", "en": "City hall"},
        "agency": "People's government",
        "agency_names": {"zh-Hans": "人民政府", "zh-Hant": "人民政府", "en": "People's government"},
        "service": None,
        "topics": [("news", {"zh-Hans": "城市要闻", "zh-Hant": "城市要聞", "en": "City news"})],
        "template": (
            "news",
            {"headline": "text"},
            {
                "zh-Hans": {"title": "市政府通知", "body": "{headline}"},
                "zh-Hant": {"title": "市政府通知", "body": "{headline}"},
                "en": {"title": "From the city hall", "body": "{headline}"},
            },
        ),
    },
)


async def load(*, session: AsyncSession, cities: list[City]) -> int:
    """Add the accounts, topics and templates to every city, and followers; accounts made."""
    now = utcnow()
    residents = await identity.get_all_ids(session=session, limit=FOLLOWERS)
    made = 0
    for city in cities:
        services = {
            s.code: s.id
            for s in await cities_service.get_all_services(
                session=session, city_id=city.id, limit=CATALOGUE_LIMIT
            )
        }
        for spec in ACCOUNTS:
            account = GovAccount(
                city_id=city.id,
                code=spec["code"],
                name=spec["name"],
                agency=spec["agency"],
                names=spec["names"],
                agency_names=spec["agency_names"],
                service_id=services.get(spec["service"]) if spec["service"] else None,
                created_at=now,
            )
            session.add(account)
            await session.flush()
            made += 1
            session.add_all(
                NoticeTopic(
                    city_id=city.id, account_id=account.id, code=code, name=names["en"], names=names
                )
                for code, names in spec["topics"]
            )
            code, placeholders, texts = spec["template"]
            session.add(
                NoticeTemplate(
                    city_id=city.id,
                    account_id=account.id,
                    code=code,
                    placeholders=placeholders,
                    texts=texts,
                )
            )
            if residents:
                await session.execute(
                    insert(Follow),
                    [
                        {"city_id": city.id, "account_id": account.id, "topic": "",
                         "resident_id": r, "created_at": now}
                        for r in residents
                    ],
                )  # fmt: skip
    await session.flush()
    return made
