"""Deadlines: requests nearing their deadline are flagged, those past it are escalated to
their department's head, each once (a conditional update takes the step, so two workers
never both do); and the SLA board's figures."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.requests import catalogue, service
from cityhub.requests.models import (
    OPEN_STATUSES,
    Department,
    RequestStatus,
    RequestType,
    ServiceRequest,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

WARN_HOURS = 2  # working hours before the deadline that count as "nearing"
ESCALATED = "request.escalated"
BATCH = 500
RUNNING = [s for s in OPEN_STATUSES if s != RequestStatus.ON_HOLD]


async def escalate(*, session: AsyncSession, city: City, now: dt.datetime) -> dict[str, int]:
    """Flag requests nearing their deadline and escalate those past it, once each."""
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    soon = catalogue.calendar_of(city, rules).add(now, WARN_HOURS)
    warned = await session.execute(
        update(ServiceRequest)
        .where(
            ServiceRequest.city_id == city.id,
            ServiceRequest.status.in_(RUNNING),
            ServiceRequest.warned_at.is_(None),
            ServiceRequest.due_at <= soon,
            ServiceRequest.due_at > now,
        )
        .values(warned_at=now)
    )
    overdue = await session.scalars(
        select(ServiceRequest)
        .where(
            ServiceRequest.city_id == city.id,
            ServiceRequest.status.in_(RUNNING),
            ServiceRequest.escalated_at.is_(None),
            ServiceRequest.due_at <= now,
        )
        .order_by(ServiceRequest.due_at)
        .limit(BATCH)
    )
    escalated = 0
    for request in list(overdue):
        taken = await session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.id == request.id, ServiceRequest.escalated_at.is_(None))
            .values(escalated_at=now)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            continue
        await session.refresh(request)
        department = await session.get(Department, request.department_id)
        assert department is not None
        head_id = department.head_staff_id
        heads = await identity.usernames_of(session=session, staff_ids=[head_id] if head_id else [])
        head = heads.get(head_id) if head_id else None
        await service.record(
            session=session,
            city=city,
            request=request,
            actor=audit.Actor.system(),
            kind="escalated",
            public=False,
            details={"department": department.code, "head": head},
        )
        await outbox.enqueue(
            session=session,
            topic=ESCALATED,
            city_id=city.id,
            payload={
                "city": city.slug,
                "request": request.public_id,
                "department": department.code,
                "head": head,
                "due_at": request.due_at.isoformat(),
            },
        )
        escalated += 1
    return {"warned": int(warned.rowcount), "escalated": escalated}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class BoardRow:
    """One department on the SLA board."""

    department: str
    names: dict[str, Any]
    open: int
    nearing: int
    overdue: int
    escalated: int
    resolved: int
    resolved_in_time: int

    @property
    def share_in_time(self) -> float | None:
        return self.resolved_in_time / self.resolved if self.resolved else None


async def board(
    *,
    session: AsyncSession,
    city: City,
    now: dt.datetime,
    departments: frozenset[int] | None = None,
) -> list[BoardRow]:
    """Per department: open, nearing, overdue and escalated requests, and how many of those
    resolved were resolved within their deadline."""
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    soon = catalogue.calendar_of(city, rules).add(now, WARN_HOURS)
    R = ServiceRequest
    is_open = R.status.in_(OPEN_STATUSES)
    done = R.resolved_at.is_not(None)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(cast(condition, Integer)), 0)

    rows = await session.execute(
        select(
            R.department_id,
            count(is_open),
            count(is_open & (R.due_at > now) & (R.due_at <= soon)),
            count(is_open & (R.due_at <= now)),
            count(is_open & R.escalated_at.is_not(None)),
            count(done),
            count(done & (R.resolved_at <= R.due_at)),
        )
        .where(R.city_id == city.id, R.status != RequestStatus.MERGED)
        .group_by(R.department_id)
    )
    figures = {r[0]: r[1:] for r in rows}
    found = []
    for department in await catalogue.get_all_departments(session=session, city_id=city.id):
        if departments is not None and department.id not in departments:
            continue
        f = figures.get(department.id, (0, 0, 0, 0, 0, 0))
        found.append(BoardRow(department.code, department.names, *(int(x) for x in f)))
    return found


async def volume(
    *, session: AsyncSession, city: City, since: dt.datetime
) -> list[tuple[str, str | None, int]]:
    """Requests made since a moment, by type and district (the console's figures)."""
    rows = await session.execute(
        select(RequestType.code, ServiceRequest.district, func.count())
        .join(RequestType, RequestType.id == ServiceRequest.type_id)
        .where(ServiceRequest.city_id == city.id, ServiceRequest.created_at >= since)
        .group_by(RequestType.code, ServiceRequest.district)
        .order_by(func.count().desc())
    )
    return [(r[0], r[1], int(r[2])) for r in rows]
