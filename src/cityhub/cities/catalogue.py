"""The catalogue read every channel makes most (`GET /v1/cities/{city}/services`): its answer
built once per city, caller, filters and page, and kept as the bytes sent, with their ETag,
until the caches' version moves (a change to a city, a channel, a grant or a service, in any
process: `platform/cache.py`, migration 0024). A cached read costs no query of its own beyond
the version the request reads anyway, and no serialisation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Response

from cityhub.cities import service
from cityhub.cities.schemas import ServiceRead
from cityhub.platform import cache

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cityhub.cities.models import City, ServiceKind
    from cityhub.platform.paging import PageParams

MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class CataloguePage:
    """One page of the catalogue as it is sent, and its entity tag."""

    body: bytes
    etag: str

    def answer(self, if_none_match: str | None) -> Response:
        """The page, or `304 Not Modified` when the client holds it already."""
        headers = {"ETag": self.etag}
        if if_none_match is not None and etag_matches(if_none_match, self.etag):
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=MEDIA_TYPE, headers=headers)


def etag_matches(if_none_match: str, etag: str) -> bool:
    # RFC 9110 13.1.2: a list of tags (weak comparison) or "*".
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def page(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int | None,
    category: str | None,
    kind: ServiceKind | None,
    page: PageParams,
) -> CataloguePage:
    """The page of the city's services this caller sees (only those granted to `channel_id`
    when it is given), from the process's cache when it holds it."""

    async def load() -> CataloguePage:
        found = await service.get_catalogue_rows(
            session=session, city_id=city.id, channel_id=channel_id, category=category,
            kind=kind, after=page.after, limit=page.limit,
        )  # fmt: skip
        items = [ServiceRead.dump_row(row, city.slug) for row in found]
        body = bytes(page.json_page(items, found[-1].id if found else None).body)
        return CataloguePage(body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')

    key = (city.id, city.slug, channel_id, category or None, kind, page.after, page.limit)
    return await cache.cached(session, "catalogue", key, load)
