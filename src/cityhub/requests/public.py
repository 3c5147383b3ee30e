"""The public view of a city's requests: type, rough location, status and dates, never the
description, the address, the attributes, the photos or who reported it. A location is shown
as the centre of its grid cell (about a kilometre), and only when at least `MIN_IN_CELL`
public requests share that cell; otherwise as the centre of its district, or not at all."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform.errors import Forbidden
from cityhub.requests import catalogue
from cityhub.requests.models import RequestSettings, RequestStatus, RequestType, ServiceRequest
from cityhub.requests.schemas import Area

if TYPE_CHECKING:
    from cityhub.cities.models import City

CELL_DEG = 0.01  # about 1.1 km of latitude
MIN_IN_CELL = 3
MAX_ROWS = 1000


@dataclass(frozen=True)
class PublicRequest:
    """A request as anyone may see it."""

    id: str
    type: str
    type_names: dict[str, str]
    status: RequestStatus
    district: str | None
    lat: float | None
    lon: float | None
    requested_at: dt.datetime
    updated_at: dt.datetime
    expected_at: dt.datetime


def cell(lat: float, lon: float) -> tuple[int, int]:
    """The grid cell of a point."""
    return math.floor(lat / CELL_DEG), math.floor(lon / CELL_DEG)


def _centre(area: dict[str, float]) -> tuple[float, float]:
    box = Area.model_validate(area)
    return round((box.south + box.north) / 2, 4), round((box.west + box.east) / 2, 4)


def coarsen(
    rules: RequestSettings, rows: list[ServiceRequest]
) -> dict[int, tuple[float | None, float | None]]:
    """The location each request is shown at (see the module's docstring)."""
    counts = Counter(cell(r.lat, r.lon) for r in rows if r.lat is not None and r.lon is not None)
    districts = {d["code"]: d["area"] for d in rules.districts}
    shown: dict[int, tuple[float | None, float | None]] = {}
    for r in rows:
        if r.lat is not None and r.lon is not None and counts[cell(r.lat, r.lon)] >= MIN_IN_CELL:
            y, x = cell(r.lat, r.lon)
            shown[r.id] = (round((y + 0.5) * CELL_DEG, 4), round((x + 0.5) * CELL_DEG, 4))
        elif r.district in districts:
            shown[r.id] = _centre(districts[r.district])
        else:
            shown[r.id] = (None, None)
    return shown


async def require_published(*, session: AsyncSession, city: City) -> RequestSettings:
    """The city's settings if it publishes its requests, else 403."""
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    if not rules.publish_open:
        raise Forbidden(f"{city.slug} does not publish its requests", code="requests_not_published")
    return rules


async def published(
    *,
    session: AsyncSession,
    city: City,
    start: dt.datetime,
    end: dt.datetime,
    statuses: list[RequestStatus] | None = None,
    type_codes: list[str] | None = None,
    public_ids: list[str] | None = None,
) -> list[PublicRequest]:
    """The city's requests made in the window, as the public sees them, newest first."""
    rules = await require_published(session=session, city=city)
    query = (
        select(ServiceRequest, RequestType)
        .join(RequestType, RequestType.id == ServiceRequest.type_id)
        .where(ServiceRequest.city_id == city.id, ServiceRequest.status != RequestStatus.MERGED)
    )
    if public_ids:
        query = query.where(ServiceRequest.public_id.in_(public_ids))
    else:
        query = query.where(ServiceRequest.created_at >= start, ServiceRequest.created_at < end)
    if statuses:
        query = query.where(ServiceRequest.status.in_(statuses))
    if type_codes:
        query = query.where(RequestType.code.in_(type_codes))
    rows = (await session.execute(query.order_by(ServiceRequest.id.desc()).limit(MAX_ROWS))).all()
    # Coarsen against every request of the window, not only those filtered in, so that a
    # filter cannot narrow a cell down to one request.
    everything = list(
        await session.scalars(
            select(ServiceRequest).where(
                ServiceRequest.city_id == city.id,
                ServiceRequest.created_at >= start - dt.timedelta(days=90),
                ServiceRequest.created_at < end,
                ServiceRequest.status != RequestStatus.MERGED,
            )
        )
    )
    shown = coarsen(rules, everything + [r for r, _ in rows])
    return [
        PublicRequest(
            id=r.public_id,
            type=t.code,
            type_names=t.names,
            status=r.status,
            district=r.district,
            lat=shown[r.id][0],
            lon=shown[r.id][1],
            requested_at=r.created_at,
            updated_at=r.updated_at,
            expected_at=r.due_at,
        )
        for r, t in rows
    ]
