"""Service requests: finding them, who may see and handle them, the timeline, and telling
the resident (through notices) of each step."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    Select,
    String,
    case,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity.deps import StaffCaller
from cityhub.identity.enums import Role
from cityhub.identity.residents import on_resident_merged
from cityhub.notices.builtin import REQUEST_STATUS_WORDS, REQUEST_STEP_WORDS, words
from cityhub.notices.sending import send_to_residents, system_account
from cityhub.platform import timeline
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound
from cityhub.requests import catalogue
from cityhub.requests.models import (
    Department,
    RequestEvent,
    RequestFollower,
    RequestPhoto,
    RequestStatus,
    RequestType,
    ServiceRequest,
)
from cityhub.requests.schemas import EventRead, PhotoRead, RequestRead, RequestTypeRead

if TYPE_CHECKING:
    from cityhub.cities.models import City

NOTICE_TEMPLATE = "request-update"
EARTH_M = 6_371_000.0
# Steps the resident is told of (internal notes and escalations are not).
NOTIFIED = {"triaged", "note", "transferred", "held", "resumed", "resolved", "closed", "merged"}


def new_public_id(city: City) -> str:
    """A request number a resident can read out on the phone: the day and six digits."""
    day = utcnow().strftime("%y%m%d")
    return f"{day}{secrets.randbelow(10**6):06d}"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


async def get_or_raise(*, session: AsyncSession, city_id: int, public_id: str) -> ServiceRequest:
    """The city's request of that number, or 404."""
    found = await session.scalar(
        select(ServiceRequest).where(
            ServiceRequest.city_id == city_id, ServiceRequest.public_id == public_id
        )
    )
    if found is None:
        raise NotFound(f"no request {public_id!r}", code="request_not_found")
    return found


@dataclass(frozen=True)
class Handler:
    """A staff member as a handler of requests: every department (city admin) or their own."""

    caller: StaffCaller
    departments: frozenset[int] | None  # None: every department of the city

    def may(self, request: ServiceRequest) -> bool:
        return self.departments is None or request.department_id in self.departments


async def handler_of(*, session: AsyncSession, city: City, caller: StaffCaller) -> Handler:
    """Which departments' requests the staff member handles (404 for the city if none: staff
    without a role there do not see it)."""
    if caller.is_operator or caller.in_city(city.id, Role.CITY_ADMIN):
        return Handler(caller=caller, departments=None)
    if not caller.in_city(city.id):
        raise NotFound(f"no city {city.slug!r}", code="city_not_found")
    ids = await catalogue.departments_of_staff(
        session=session, city_id=city.id, staff_id=caller.staff.id
    )
    return Handler(caller=caller, departments=frozenset(ids))


async def get_for_handler_or_raise(
    *, session: AsyncSession, city: City, handler: Handler, public_id: str
) -> ServiceRequest:
    """A request the staff member handles; another department's looks like no request."""
    found = await get_or_raise(session=session, city_id=city.id, public_id=public_id)
    if not handler.may(found):
        raise NotFound(f"no request {public_id!r}", code="request_not_found")
    return found


async def followers_of(*, session: AsyncSession, request: ServiceRequest) -> list[int]:
    """The residents told of the request's steps."""
    found = await session.scalars(
        select(RequestFollower.resident_id).where(
            RequestFollower.city_id == request.city_id,
            RequestFollower.request_id == request.id,
        )
    )
    return list(found)


async def follow(
    *, session: AsyncSession, request: ServiceRequest, resident_id: int, channel_id: int | None
) -> bool:
    """The resident follows the request (once); whether they did only now."""
    exists = await session.scalar(
        select(RequestFollower.id).where(
            RequestFollower.city_id == request.city_id,
            RequestFollower.request_id == request.id,
            RequestFollower.resident_id == resident_id,
        )
    )
    if exists is not None:
        return False
    session.add(
        RequestFollower(
            city_id=request.city_id,
            request_id=request.id,
            resident_id=resident_id,
            channel_id=channel_id,
        )
    )
    await session.flush()
    return True


async def record(
    *,
    session: AsyncSession,
    city: City,
    request: ServiceRequest,
    actor: audit.Actor,
    kind: str,
    public: bool,
    note: str | None = None,
    details: dict[str, object] | None = None,
    link: str | None = None,
) -> RequestEvent:
    """One step: on the timeline, in the audit log, and (for public steps) told to the
    request's followers through notices, in the same transaction."""
    event = RequestEvent(
        city_id=city.id,
        request_id=request.id,
        kind=kind,
        public=public,
        status=request.status.value,
        note=note,
        actor_type=actor.type,
        actor_id=actor.id,
        details=dict(details or {}),
        at=utcnow(),
    )
    session.add(event)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action=f"request.{kind}",
        object_type="service_request",
        object_id=request.public_id,
        city_id=city.id,
        details={"status": request.status.value, "public": public, **(details or {})},
    )
    if public and kind in NOTIFIED:
        residents = await followers_of(session=session, request=request)
        await send_to_residents(
            session=session,
            city_id=city.id,
            account=await system_account(session=session, city_id=city.id),
            template=NOTICE_TEMPLATE,
            values={
                "request": request.public_id,
                "status": words(REQUEST_STATUS_WORDS, request.status.value),
                "note": note[:500] if note else words(REQUEST_STEP_WORDS, kind),
            },
            resident_ids=residents,
            dedupe_key=f"request:{request.public_id}:{event.id}",
            ref=f"request:{request.public_id}",
            link=link,
        )
    return event


async def timeline_of(
    *, session: AsyncSession, request: ServiceRequest, internal: bool
) -> list[RequestEvent]:
    """The request's steps, oldest first (public ones only unless `internal`)."""
    query = select(RequestEvent).where(
        RequestEvent.city_id == request.city_id, RequestEvent.request_id == request.id
    )
    if not internal:
        query = query.where(RequestEvent.public.is_(True))
    return list(await session.scalars(query.order_by(RequestEvent.id)))


async def photos_of(*, session: AsyncSession, request: ServiceRequest) -> list[RequestPhoto]:
    """The request's photos."""
    found = await session.scalars(
        select(RequestPhoto)
        .where(RequestPhoto.city_id == request.city_id, RequestPhoto.request_id == request.id)
        .order_by(RequestPhoto.id)
    )
    return list(found)


async def read_of(
    *,
    session: AsyncSession,
    city: City,
    request: ServiceRequest,
    timeline: bool = False,
    internal: bool = False,
) -> RequestRead:
    """The request as the API answers it."""
    request_type = await session.get(RequestType, request.type_id)
    department = await session.get(Department, request.department_id)
    assert request_type is not None and department is not None
    merged = (
        await session.get(ServiceRequest, request.merged_into_id)
        if request.merged_into_id
        else None
    )
    base = f"/v1/cities/{city.slug}/requests/{request.public_id}/photos/"
    events: Sequence[RequestEvent] = (
        await timeline_of(session=session, request=request, internal=internal) if timeline else ()
    )
    return RequestRead(
        id=request.public_id,
        city=city.slug,
        type=request_type.code,
        department=department.code,
        status=request.status,
        description=request.description,
        lat=request.lat,
        lon=request.lon,
        address=request.address,
        district=request.district,
        attributes=request.attributes,
        photos=[
            PhotoRead(
                id=p.public_id, content_type=p.content_type, size=p.size, url=base + p.public_id
            )
            for p in await photos_of(session=session, request=request)
        ],
        triage_due_at=request.triage_due_at,
        due_at=request.due_at,
        escalated=request.escalated_at is not None,
        created_at=request.created_at,
        updated_at=request.updated_at,
        resolved_at=request.resolved_at,
        closed_at=request.closed_at,
        reopened=request.reopened,
        rating=request.rating,
        merged_into=merged.public_id if merged else None,
        timeline=[
            EventRead(
                kind=e.kind,
                status=e.status,
                note=e.note,
                public=e.public,
                actor=e.actor_type if e.actor_type != "staff" or not internal else e.actor_id,
                at=e.at,
            )
            for e in events
        ],
    )


async def type_read_of(*, session: AsyncSession, request_type: RequestType) -> RequestTypeRead:
    """A request type as the API answers it, with its department's code."""
    departments = await catalogue.get_all_departments(session=session, city_id=request_type.city_id)
    codes = {d.id: d.code for d in departments}
    return RequestTypeRead(
        code=request_type.code,
        group=request_type.group,
        keywords=[k for k in request_type.keywords.split(",") if k],
        names=request_type.names,
        descriptions=request_type.descriptions,
        department=codes[request_type.department_id],
        sla_hours=request_type.sla_hours,
        attributes=request_type.attributes,
        active=request_type.active,
    )


def is_open(request: ServiceRequest) -> bool:
    """Whether the request is still being handled."""
    return request.status in (
        RequestStatus.SUBMITTED,
        RequestStatus.TRIAGED,
        RequestStatus.ASSIGNED,
        RequestStatus.ON_HOLD,
    )


@on_resident_merged
async def _move_resident(session: AsyncSession, from_id: int, to_id: int) -> None:
    """A resident found to be someone already known keeps their requests."""
    await session.execute(
        update(ServiceRequest)
        .where(ServiceRequest.resident_id == from_id)
        .values(resident_id=to_id)
    )
    moved = await session.scalars(
        select(RequestFollower).where(RequestFollower.resident_id == from_id)
    )
    for row in moved:
        taken = await session.scalar(
            select(RequestFollower.id).where(
                RequestFollower.city_id == row.city_id,
                RequestFollower.request_id == row.request_id,
                RequestFollower.resident_id == to_id,
            )
        )
        if taken is None:
            row.resident_id = to_id
        else:
            await session.delete(row)
    await session.flush()


async def requests_of(
    *,
    session: AsyncSession,
    city_ids: Sequence[int],
    resident_id: int,
    channel_ids: set[int],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The person's requests filed through these channels, newest first, in these cities
    (their history)."""
    rows = await session.execute(
        select(ServiceRequest, RequestType.code, RequestType.names)
        .join(
            RequestType,
            (RequestType.city_id == ServiceRequest.city_id)
            & (RequestType.id == ServiceRequest.type_id),
        )
        .where(
            ServiceRequest.city_id.in_(city_ids),
            ServiceRequest.resident_id == resident_id,
            ServiceRequest.channel_id.in_(channel_ids),
            timeline.older_than("request", ServiceRequest.created_at, ServiceRequest.id, before),
        )
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="request",
            row_id=r.id,
            at=r.created_at,
            city_id=r.city_id,
            channel_id=r.channel_id,
            ref=r.public_id,
            title=str((names or {}).get("en") or code),
            status=RequestStatus(r.status).value,
            details={"type": code, "type_names": names or {}, "district": r.district},
        )
        for r, code, names in rows
    ]


def usage_facts(*, city_id: int) -> Select[Any]:
    """The city's requests as usage facts (`platform.facts.COLUMNS`): a request has a type,
    not a catalogue service (`service_id` is empty), and the only district the hub records;
    one resolved or closed succeeded; an anonymous Open311 report has no person."""
    sr = ServiceRequest
    ok = sr.status.in_((RequestStatus.RESOLVED, RequestStatus.CLOSED))
    return select(
        literal_column("'requests'", String).label("pillar"),
        null().cast(BigInteger).label("service_id"),
        sr.channel_id.label("channel_id"),
        sr.district.label("district"),
        sr.resident_id.label("person"),
        sr.created_at.label("at"),
        case((ok, 1), else_=0).label("ok"),
        null().cast(Float).label("latency_ms"),
        literal_column("0", Integer).label("fee_fen"),
    ).where(sr.city_id == city_id, sr.status != RequestStatus.MERGED)
