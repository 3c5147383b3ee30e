"""Lists of requests: a resident's own, a channel's own, a department's queue as its staff see
it, and the public steps of a window (Open311's updates)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import service as identity
from cityhub.platform.errors import Unprocessable
from cityhub.requests import catalogue
from cityhub.requests.models import (
    OPEN_STATUSES,
    Department,
    RequestEvent,
    RequestFollower,
    RequestStatus,
    RequestType,
    ServiceRequest,
)
from cityhub.requests.service import Handler

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def of_resident(
    *, session: AsyncSession, city_id: int, resident_id: int, limit: int = 50
) -> list[ServiceRequest]:
    """The requests a resident reported or follows, newest first."""
    followed = select(RequestFollower.request_id).where(
        RequestFollower.city_id == city_id, RequestFollower.resident_id == resident_id
    )
    found = await session.scalars(
        select(ServiceRequest)
        .where(
            ServiceRequest.city_id == city_id,
            (ServiceRequest.resident_id == resident_id) | ServiceRequest.id.in_(followed),
        )
        .order_by(ServiceRequest.id.desc())
        .limit(limit)
    )
    return list(found)


async def for_handler(
    *,
    session: AsyncSession,
    city: City,
    handler: Handler,
    status: str | None = None,
    department: str | None = None,
    limit: int = 50,
) -> list[ServiceRequest]:
    """The requests the staff member handles, the soonest deadline first (open ones unless a
    status is named)."""
    query = select(ServiceRequest).where(ServiceRequest.city_id == city.id)
    if status:
        try:
            query = query.where(ServiceRequest.status == RequestStatus(status))
        except ValueError:
            names = ", ".join(s.value for s in RequestStatus)
            raise Unprocessable(f"status is one of {names}", field="status") from None
    else:
        query = query.where(ServiceRequest.status.in_(OPEN_STATUSES))
    if department:
        found = await catalogue.get_department_or_raise(
            session=session, city_id=city.id, code=department
        )
        query = query.where(ServiceRequest.department_id == found.id)
    if handler.departments is not None:
        query = query.where(ServiceRequest.department_id.in_(handler.departments))
    rows = await session.scalars(query.order_by(ServiceRequest.due_at).limit(limit))
    return list(rows)


async def department_people(
    *, session: AsyncSession, department: Department
) -> tuple[str | None, list[str]]:
    """The usernames of a department's head and members."""
    members = await catalogue.members_of(session=session, department=department)
    names = await identity.usernames_of(session=session, staff_ids=members)
    head = names.get(department.head_staff_id) if department.head_staff_id else None
    return head, sorted(names.values())


async def of_channel(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int,
    public_ids: list[str] | None,
    since: dt.datetime,
    until: dt.datetime,
    statuses: list[RequestStatus] | None = None,
    type_codes: list[str] | None = None,
    limit: int = 1000,
) -> list[ServiceRequest]:
    """A channel's own requests, newest first: these (by number), else those made in the
    window; only of these statuses and types, when given."""
    query = select(ServiceRequest).where(
        ServiceRequest.city_id == city_id, ServiceRequest.channel_id == channel_id
    )
    if public_ids:
        query = query.where(ServiceRequest.public_id.in_(public_ids))
    else:
        query = query.where(ServiceRequest.created_at >= since, ServiceRequest.created_at < until)
    if statuses:
        query = query.where(ServiceRequest.status.in_(statuses))
    if type_codes:
        query = query.join(RequestType, RequestType.id == ServiceRequest.type_id).where(
            RequestType.code.in_(type_codes)
        )
    return list(await session.scalars(query.order_by(ServiceRequest.id.desc()).limit(limit)))


async def public_steps(
    *,
    session: AsyncSession,
    city_id: int,
    since: dt.datetime,
    until: dt.datetime,
    channel_id: int | None = None,
    limit: int = 1000,
) -> list[tuple[RequestEvent, str]]:
    """The public steps taken in the window, oldest first, each with its request's number
    (only on the channel's requests, when given)."""
    query = (
        select(RequestEvent, ServiceRequest.public_id)
        .join(ServiceRequest, ServiceRequest.id == RequestEvent.request_id)
        .where(
            RequestEvent.city_id == city_id,
            RequestEvent.public.is_(True),
            RequestEvent.at >= since,
            RequestEvent.at < until,
        )
    )
    if channel_id is not None:
        query = query.where(ServiceRequest.channel_id == channel_id)
    rows = await session.execute(query.order_by(RequestEvent.id).limit(limit))
    return [(event, public_id) for event, public_id in rows.all()]
