"""Reporting a problem from any channel, the portal or Open311: checked whole before anything
is written, photos last; "the same problem?" offers nearby open requests of the type, and a
report that says it is one of them follows it instead of adding another."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity.pii import Vault
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Unprocessable
from cityhub.requests import catalogue, photos, service
from cityhub.requests.models import (
    OPEN_STATUSES,
    RequestPhoto,
    RequestSettings,
    RequestStatus,
    RequestType,
    ServiceRequest,
)
from cityhub.requests.schemas import NearbyRead, ReportCreate

if TYPE_CHECKING:
    from cityhub.cities.models import City

NEARBY_M = 150  # "the same problem?" looks this far around the point
SAME_AS_M = 1000  # a report may join an open request no further away than this
DEG_M = 111_320.0


@dataclass(frozen=True)
class Reporter:
    """Who reports: a channel (or the portal) and, unless anonymous, the resident."""

    actor: audit.Actor
    channel_id: int | None
    resident_id: int | None = None
    contact: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reported:
    """The request the report made, or the one it joined (`created` False)."""

    request: ServiceRequest
    created: bool


async def nearby(
    *,
    session: AsyncSession,
    city_id: int,
    request_type: RequestType,
    lat: float,
    lon: float,
    radius_m: float = NEARBY_M,
    limit: int = 5,
) -> list[tuple[ServiceRequest, float]]:
    """Open requests of the type around a point, nearest first, with their distance."""
    dlat = radius_m / DEG_M
    dlon = radius_m / (DEG_M * max(math.cos(math.radians(lat)), 0.01))
    rows = await session.scalars(
        select(ServiceRequest).where(
            ServiceRequest.city_id == city_id,
            ServiceRequest.type_id == request_type.id,
            ServiceRequest.status.in_(OPEN_STATUSES),
            ServiceRequest.lat.between(lat - dlat, lat + dlat),
            ServiceRequest.lon.between(lon - dlon, lon + dlon),
        )
    )
    found = []
    for row in rows:
        assert row.lat is not None and row.lon is not None
        distance = service.distance_m(lat, lon, row.lat, row.lon)
        if distance <= radius_m:
            found.append((row, distance))
    found.sort(key=lambda pair: pair[1])
    return found[:limit]


async def same_problem(
    *, session: AsyncSession, city: City, type_code: str, lat: float, lon: float
) -> list[NearbyRead]:
    """The open requests a resident is about to report again, to follow instead."""
    request_type = await catalogue.get_type_or_raise(
        session=session, city_id=city.id, code=type_code
    )
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    catalogue.check_location(rules, lat, lon)
    return [
        NearbyRead(
            id=r.public_id,
            type=request_type.code,
            status=r.status,
            description=r.description[:200],
            distance_m=round(d),
            created_at=r.created_at,
        )
        for r, d in await nearby(
            session=session, city_id=city.id, request_type=request_type, lat=lat, lon=lon
        )
    ]


@dataclass(frozen=True)
class _Checked:
    """What the checks of a report found: its type, the city's rules, the district of its
    point, and its attributes as checked."""

    request_type: RequestType
    rules: RequestSettings
    district: str | None
    attributes: dict[str, Any]


async def _check(session: AsyncSession, city: City, report_in: ReportCreate) -> _Checked:
    """Every check of the report's own fields, in order (4xx naming the field)."""
    request_type = await catalogue.get_type_or_raise(
        session=session, city_id=city.id, code=report_in.type
    )
    if not request_type.active:
        raise Unprocessable(
            f"{request_type.code} takes no new reports", code="request_type_closed", field="type"
        )
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    if (report_in.lat is None) != (report_in.lon is None):
        raise Unprocessable("send lat and lon together", field="lon" if report_in.lat else "lat")
    district = None
    if report_in.lat is not None and report_in.lon is not None:
        district = catalogue.check_location(rules, report_in.lat, report_in.lon)
    elif not report_in.address:
        raise Unprocessable("send a location (lat and lon) or an address", field="lat")
    attributes = catalogue.check_attributes(request_type, report_in.attributes)
    return _Checked(
        request_type=request_type, rules=rules, district=district, attributes=attributes
    )


def _prepare_photos(report_in: ReportCreate, uploads: list[bytes]) -> list[photos.Photo]:
    """The photos checked and ready to store (413 or 422 naming `photos.<n>`)."""
    photos.check_count(len(uploads))
    return [
        photos.prepare(data, field=f"photos.{i}", keep_location=report_in.share_location)
        for i, data in enumerate(uploads)
    ]


async def _create(
    session: AsyncSession,
    vault: Vault,
    city: City,
    reporter: Reporter,
    report_in: ReportCreate,
    checked: _Checked,
) -> ServiceRequest:
    """The new request, due in the city's working hours, followed by its reporter."""
    now = utcnow()
    calendar = catalogue.calendar_of(city, checked.rules)
    request = ServiceRequest(
        city_id=city.id,
        public_id=await _free_public_id(session, city),
        type_id=checked.request_type.id,
        department_id=checked.request_type.department_id,
        status=RequestStatus.SUBMITTED,
        description=report_in.description.strip(),
        lat=report_in.lat,
        lon=report_in.lon,
        address=report_in.address,
        district=checked.district,
        attributes=checked.attributes,
        channel_id=reporter.channel_id,
        resident_id=reporter.resident_id,
        contact_enc=vault.encrypt(json.dumps(reporter.contact)) if reporter.contact else None,
        triage_due_at=calendar.add(now, checked.rules.triage_hours),
        due_at=calendar.add(now, checked.request_type.sla_hours),
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    await session.flush()
    if reporter.resident_id is not None:
        await service.follow(
            session=session,
            request=request,
            resident_id=reporter.resident_id,
            channel_id=reporter.channel_id,
        )
    return request


async def _add_photos(
    session: AsyncSession, city: City, request: ServiceRequest, prepared: list[photos.Photo]
) -> None:
    """The rows of the request's photos (their files are stored last)."""
    for photo in prepared:
        session.add(
            RequestPhoto(
                city_id=city.id,
                public_id=photo.public_id,
                request_id=request.id,
                content_type=photo.content_type,
                size=len(photo.data),
                sha256=photo.sha256,
                path=f"requests/{city.id}/{photo.public_id}.{photo.extension}",
                location_kept=photo.location_kept,
            )
        )
    await session.flush()


async def report(
    *,
    session: AsyncSession,
    vault: Vault,
    data_dir: Path,
    city: City,
    reporter: Reporter,
    report_in: ReportCreate,
    uploads: list[bytes] | None = None,
    link: str | None = None,
) -> Reported:
    """Make a request (or follow the same open one), every part checked before the first
    row is written; 4xx naming the field otherwise, leaving nothing stored."""
    checked = await _check(session, city, report_in)
    prepared = _prepare_photos(report_in, uploads or [])
    if report_in.same_as:
        joined = await _join(session, city, reporter, report_in, checked.request_type)
        return Reported(request=joined, created=False)
    request = await _create(session, vault, city, reporter, report_in, checked)
    await _add_photos(session, city, request, prepared)
    await service.record(
        session=session,
        city=city,
        request=request,
        actor=reporter.actor,
        kind="submitted",
        public=True,
        details={
            "type": checked.request_type.code,
            "anonymous": reporter.resident_id is None,
            "photos": len(prepared),
        },
        link=link,
    )
    # Files last: everything that can refuse the report has had its say.
    for photo in prepared:
        photos.store(data_dir, city.id, photo)
    return Reported(request=request, created=True)


async def _free_public_id(session: AsyncSession, city: City) -> str:
    for _ in range(10):
        candidate = service.new_public_id(city)
        taken = await session.scalar(
            select(ServiceRequest.id).where(
                ServiceRequest.city_id == city.id, ServiceRequest.public_id == candidate
            )
        )
        if taken is None:
            return candidate
    raise RuntimeError("no free request number")  # a million numbers a day are not used up


async def _join(
    session: AsyncSession,
    city: City,
    reporter: Reporter,
    report_in: ReportCreate,
    request_type: RequestType,
) -> ServiceRequest:
    """Follow the open request the reporter says is the same problem."""
    assert report_in.same_as is not None
    try:
        target = await service.get_or_raise(
            session=session, city_id=city.id, public_id=report_in.same_as
        )
    except Exception:
        raise Unprocessable(
            f"no open request {report_in.same_as!r}", code="not_same_problem", field="same_as"
        ) from None
    near = (
        report_in.lat is None
        or target.lat is None
        or target.lon is None
        or report_in.lon is None
        or service.distance_m(report_in.lat, report_in.lon, target.lat, target.lon) <= SAME_AS_M
    )
    if target.type_id != request_type.id or not service.is_open(target) or not near:
        raise Unprocessable(
            f"{report_in.same_as} is not an open {request_type.code} request nearby",
            code="not_same_problem",
            field="same_as",
        )
    if reporter.resident_id is not None:
        await service.follow(
            session=session,
            request=target,
            resident_id=reporter.resident_id,
            channel_id=reporter.channel_id,
        )
    await service.record(
        session=session,
        city=city,
        request=target,
        actor=reporter.actor,
        kind="same_problem",
        public=True,
        note=report_in.description.strip()[:500],
        details={"anonymous": reporter.resident_id is None},
    )
    return target
