"""Handling a request: staff of the responsible department triage, assign, note, transfer,
hold, resolve and close; the resident reopens within the window and rates. Each step is one
function: it checks the step is allowed from the current status, changes the request, and
records it (timeline, audit, notice)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, Unprocessable
from cityhub.requests import catalogue, service
from cityhub.requests.models import RequestStatus, ServiceRequest
from cityhub.requests.service import Handler

if TYPE_CHECKING:
    from cityhub.cities.models import City

S = RequestStatus
WORKING = (S.SUBMITTED, S.TRIAGED, S.ASSIGNED)


def _require(request: ServiceRequest, allowed: Iterable[RequestStatus], step: str) -> None:
    allowed = tuple(allowed)
    if request.status not in allowed:
        raise Conflict(
            f"a {request.status.value} request cannot be {step}",
            code="request_wrong_status",
            field="status",
            status_now=request.status.value,
        )


def _touch(request: ServiceRequest, status: RequestStatus | None = None) -> None:
    if status is not None:
        request.status = status
    request.updated_at = utcnow()


async def triage(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, note: str
) -> ServiceRequest:
    """Accept a new request as the department's (the public note says what happens next)."""
    _require(request, (S.SUBMITTED,), "triaged")
    request.triaged_at = utcnow()
    _touch(request, S.TRIAGED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="triaged", public=True, note=note,
    )  # fmt: skip
    return request


async def assign(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, username: str
) -> ServiceRequest:
    """Give the request to a member of its department (triaging it if still new)."""
    _require(request, WORKING, "assigned")
    staff = await identity.get_staff_by_username(session=session, username=username)
    department = await catalogue.get_department_by_id(session=session, request=request)
    members = await catalogue.members_of(session=session, department=department)
    if staff is None or staff.id not in members:
        raise Unprocessable(
            f"{username!r} does not handle {department.code}'s requests",
            code="not_a_member",
            field="assignee",
        )
    if request.triaged_at is None:
        request.triaged_at = utcnow()
    request.assignee_staff_id = staff.id
    _touch(request, S.ASSIGNED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="assigned", public=False, details={"assignee": staff.username},
    )  # fmt: skip
    return request


async def note(
    *,
    session: AsyncSession,
    city: City,
    handler: Handler,
    request: ServiceRequest,
    text: str,
    public: bool,
) -> ServiceRequest:
    """A status note: public ones are told to the resident, internal ones stay in the team."""
    _touch(request)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="note", public=public, note=text,
    )  # fmt: skip
    return request


async def transfer(
    *,
    session: AsyncSession,
    city: City,
    handler: Handler,
    request: ServiceRequest,
    department_code: str,
    text: str,
) -> ServiceRequest:
    """Hand the request to another department; it starts there as untriaged, and the
    deadline stays (the resident's wait does not start again)."""
    _require(request, WORKING, "transferred")
    target = await catalogue.get_department_or_raise(
        session=session, city_id=city.id, code=department_code
    )
    if target.id == request.department_id:
        raise Unprocessable("the request is already there", field="department")
    source = await catalogue.get_department_by_id(session=session, request=request)
    request.department_id = target.id
    request.assignee_staff_id = None
    request.triaged_at = None
    _touch(request, S.SUBMITTED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="transferred", public=True, note=text,
        details={"from": source.code, "to": target.code},
    )  # fmt: skip
    return request


async def hold(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, reason: str
) -> ServiceRequest:
    """Put the request on hold with a reason; its deadline waits with it."""
    _require(request, (S.TRIAGED, S.ASSIGNED), "put on hold")
    request.held_at = utcnow()
    request.hold_reason = reason
    _touch(request, S.ON_HOLD)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="held", public=True, note=reason,
    )  # fmt: skip
    return request


async def resume(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, text: str
) -> ServiceRequest:
    """Take the request off hold: its deadlines move by the working time it waited."""
    _require(request, (S.ON_HOLD,), "resumed")
    assert request.held_at is not None
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    calendar = catalogue.calendar_of(city, rules)
    now = utcnow()
    waited = calendar.between(request.held_at, now)
    request.due_at = calendar.add(request.due_at, waited.total_seconds() / 3600)
    request.held_at = None
    request.hold_reason = None
    _touch(request, S.ASSIGNED if request.assignee_staff_id else S.TRIAGED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="resumed", public=True, note=text,
        details={"waited_hours": round(waited.total_seconds() / 3600, 2)},
    )  # fmt: skip
    return request


async def resolve(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, text: str
) -> ServiceRequest:
    """Mark the problem fixed, saying what was done; the resident may reopen it."""
    _require(request, (S.TRIAGED, S.ASSIGNED), "resolved")
    request.resolved_at = utcnow()
    _touch(request, S.RESOLVED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="resolved", public=True, note=text,
        details={"within_deadline": request.resolved_at <= request.due_at},
    )  # fmt: skip
    return request


async def close(
    *, session: AsyncSession, city: City, handler: Handler, request: ServiceRequest, text: str
) -> ServiceRequest:
    """Close a resolved request for good (or one that needs no action, with the reason)."""
    _require(request, (S.SUBMITTED, S.TRIAGED, S.ASSIGNED, S.RESOLVED), "closed")
    request.closed_at = utcnow()
    if request.resolved_at is None:
        request.resolved_at = request.closed_at
    _touch(request, S.CLOSED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="closed", public=True, note=text,
    )  # fmt: skip
    return request


async def merge(
    *,
    session: AsyncSession,
    city: City,
    handler: Handler,
    request: ServiceRequest,
    into: ServiceRequest,
) -> ServiceRequest:
    """Merge a duplicate into the open request it repeats: its followers follow that one."""
    _require(request, WORKING, "merged")
    if into.id == request.id or not service.is_open(into) or into.type_id != request.type_id:
        raise Unprocessable("merge into another open request of the type", field="into")
    for resident_id in await service.followers_of(session=session, request=request):
        await service.follow(
            session=session, request=into, resident_id=resident_id, channel_id=None
        )
    request.merged_into_id = into.id
    request.closed_at = utcnow()
    _touch(request, S.MERGED)
    await service.record(
        session=session, city=city, request=request, actor=handler.caller.actor,
        kind="merged", public=True, note=into.public_id, details={"into": into.public_id},
    )  # fmt: skip
    return request


# -- the resident -----------------------------------------------------------------------------


def _own(request: ServiceRequest, resident_id: int) -> None:
    if request.resident_id != resident_id:
        raise Forbidden("only the resident who reported it may do this", code="not_reporter")


async def reopen(
    *,
    session: AsyncSession,
    city: City,
    actor: audit.Actor,
    resident_id: int,
    request: ServiceRequest,
    reason: str,
    now: dt.datetime | None = None,
) -> ServiceRequest:
    """The reporter says the problem is not fixed, within the city's window after it was
    resolved: back to the department, untriaged, with fresh deadlines (and so escalated
    again, once, if these pass too)."""
    _own(request, resident_id)
    _require(request, (S.RESOLVED, S.CLOSED), "reopened")
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    now = now or utcnow()
    assert request.resolved_at is not None
    if now > request.resolved_at + dt.timedelta(days=rules.reopen_days):
        raise Conflict(
            f"a request can be reopened within {rules.reopen_days} days of its resolution",
            code="reopen_window_over",
        )
    calendar = catalogue.calendar_of(city, rules)
    request.reopened += 1
    request.resolved_at = request.closed_at = None
    request.triaged_at = None
    request_type = await catalogue.get_type_of(session=session, request=request)
    # The handling starts again: a fresh triage deadline and a fresh deadline of the type.
    request.triage_due_at = calendar.add(now, rules.triage_hours)
    request.due_at = calendar.add(now, request_type.sla_hours)
    request.escalated_at = request.warned_at = None
    request.rating = request.rating_comment = None
    _touch(request, S.SUBMITTED)
    await service.record(
        session=session, city=city, request=request, actor=actor,
        kind="reopened", public=True, note=reason,
    )  # fmt: skip
    return request


async def rate(
    *,
    session: AsyncSession,
    city: City,
    actor: audit.Actor,
    resident_id: int,
    request: ServiceRequest,
    rating: int,
    comment: str | None,
) -> ServiceRequest:
    """The reporter rates the handling once it is resolved (once; a reopen lets them again)."""
    _own(request, resident_id)
    _require(request, (S.RESOLVED, S.CLOSED), "rated")
    if request.rating is not None:
        raise Conflict("this request was rated already", code="already_rated", field="rating")
    request.rating = rating
    request.rating_comment = comment
    _touch(request)
    await service.record(
        session=session, city=city, request=request, actor=actor,
        kind="rated", public=True, note=comment, details={"rating": rating},
    )  # fmt: skip
    return request
