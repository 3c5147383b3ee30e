"""Schedule (a session) and Slot: read, search, and the `_include`s clients use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import Select, false
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.fhir import directory, filters, resources, search
from cityhub.appointments.fhir.access import (
    ResourceId,
    Scope,
    ScopeDep,
    horizons,
    parents,
    session_of,
    where_in,
)
from cityhub.appointments.fhir.search import Keyset, Param
from cityhub.appointments.fhir.wire import FhirRoute, fhir
from cityhub.appointments.models import ClinicSession, Slot
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound

router = APIRouter(route_class=FhirRoute)
ACTOR_TYPES = tuple(filters.ACTOR_COLUMNS)
SCHEDULE_PARAMS = (
    Param("_id", "token", "the session's id"),
    Param("actor", "reference", "Practitioner/pr-n, HealthcareService/hs-n or Location/loc-n"),
    Param("active", "token", "true or false"),
    Param("service-type", "token", "a department code (urn:cityhub:department)"),
    Param("specialty", "token", "a department code (urn:cityhub:department)"),
    Param("date", "date", "the session's day, with R4's prefixes"),
)
SCHEDULE_INCLUDES = ("Schedule:actor", *(f"Schedule:actor:{t}" for t in ACTOR_TYPES))
SLOT_PARAMS = (
    Param("_id", "token", "the slot's id"),
    Param("schedule", "reference", "Schedule/{id}"),
    Param("status", "token", "free (a place is left) or busy"),
    Param("start", "date", "the slot's start, with R4's prefixes (eq ne gt lt ge le sa eb)"),
    Param("service-type", "token", "a department code (urn:cityhub:department)"),
    Param("specialty", "token", "a department code (urn:cityhub:department)"),
    Param(
        "schedule.actor",
        "reference",
        "chained: the schedule's Practitioner, HealthcareService or Location",
    ),
    *(
        Param(f"schedule.actor:{t}", "reference", f"chained: the schedule's {t} id")
        for t in ACTOR_TYPES
    ),
)
SLOT_INCLUDES = ("Slot:schedule",)


def _schedule_query(scope: Scope, args: search.Args) -> Select[Any]:
    query = parents().where(scope.sessions())
    query = filters.apply(query, args, "_id", lambda v: ClinicSession.public_id == v)
    query = filters.apply(query, args, "actor", filters.actor)
    query = filters.apply(
        query, args, "active", lambda v: ClinicSession.active.is_(filters.boolean(v, "active"))
    )
    query = filters.apply(query, args, "service-type", filters.department_token)
    query = filters.apply(query, args, "specialty", filters.department_token)
    return filters.apply(
        query, args, "date", lambda v: search.day_clause(ClinicSession.day, v, "date")
    )


SCHEDULE_KEYS = Keyset(
    (ClinicSession.day, ClinicSession.id), lambda r: (r[0].day, r[0].id), ("date", "int")
)


async def schedules_of(session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
    """Schedules of (session, department, doctor) rows."""
    spans = await horizons(session, [r[0].id for r in rows])
    return [
        resources.schedule(r[0], await where_in(session, r[0], r[1], r[2]), spans.get(r[0].id))
        for r in rows
    ]


@router.get("/Schedule")
async def search_schedules(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Sessions of the hospitals granted to the channel."""
    args = search.parse(request, SCHEDULE_PARAMS, SCHEDULE_INCLUDES, most=200)
    found = await search.page(session, _schedule_query(scope, args), SCHEDULE_KEYS, args)
    included: list[dict[str, Any]] = []
    if args.includes:
        kinds = {i.removeprefix("Schedule:actor").lstrip(":") or "*" for i in args.includes}
        wheres = [await where_in(session, r[0], r[1], r[2]) for r in found.rows]
        included = directory.actor_resources(wheres, kinds)
    return search.bundle(request, await schedules_of(session, found.rows), found, included)


@router.get("/Schedule/{schedule_id}")
async def read_schedule(session: SessionDep, scope: ScopeDep, schedule_id: ResourceId) -> Any:
    """One session as a Schedule."""
    clinic, where = await session_of(session, scope, schedule_id)
    spans = await horizons(session, [clinic.id])
    return fhir(resources.schedule(clinic, where, spans.get(clinic.id)))


def _status(value: str) -> Any:
    _, code = search.token(value)
    if code == "free":
        return Slot.taken < Slot.capacity
    if code == "busy":
        return Slot.taken >= Slot.capacity
    return false()  # busy-unavailable, busy-tentative, entered-in-error: none here


def slot_query(scope: Scope, args: search.Args) -> Select[Any]:
    """Slots of sessions the caller may see, narrowed by the search, in the database."""
    query = (
        parents()
        .add_columns(Slot)
        .join(Slot, Slot.session_id == ClinicSession.id)
        .where(scope.sessions(), ClinicSession.active.is_(True))
    )
    query = filters.apply(query, args, "_id", lambda v: Slot.public_id == v)
    query = filters.apply(
        query,
        args,
        "schedule",
        lambda v: ClinicSession.public_id == search.reference(v, "Schedule")[1],
    )
    query = filters.apply(query, args, "status", _status)
    query = filters.apply(
        query, args, "start", lambda v: search.date_clause(Slot.starts_at, v, "start")
    )
    query = filters.apply(query, args, "service-type", filters.department_token)
    query = filters.apply(query, args, "specialty", filters.department_token)
    query = filters.apply(query, args, "schedule.actor", filters.actor)
    for kind in ACTOR_TYPES:
        query = filters.apply(query, args, f"schedule.actor:{kind}", _typed_actor(kind))
    return query


def _typed_actor(kind: str) -> Callable[[str], Any]:
    return lambda value: filters.actor(value, kind)


SLOT_KEYS = Keyset((Slot.starts_at, Slot.id), lambda r: (r[3].starts_at, r[3].id), ("dt", "int"))


async def slot_rows(session: AsyncSession, rows: list[Any]) -> list[dict[str, Any]]:
    """Slots of (session, department, doctor, slot) rows."""
    return [resources.slot(r[3], r[0], await where_in(session, r[0], r[1], r[2])) for r in rows]


@router.get("/Slot")
async def search_slots(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Slots, filtered by the database before the page is cut."""
    args = search.parse(request, SLOT_PARAMS, SLOT_INCLUDES, default=100, most=500)
    found = await search.page(session, slot_query(scope, args), SLOT_KEYS, args)
    included: list[dict[str, Any]] = []
    if args.includes:
        unique = {r[0].id: r[:3] for r in found.rows}
        included = await schedules_of(session, list(unique.values()))
    return search.bundle(request, await slot_rows(session, found.rows), found, included)


@router.get("/Slot/{slot_id}")
async def read_slot(session: SessionDep, scope: ScopeDep, slot_id: ResourceId) -> Any:
    """One slot."""
    row = (
        await session.execute(
            parents()
            .add_columns(Slot)
            .join(Slot, Slot.session_id == ClinicSession.id)
            .where(Slot.public_id == slot_id, scope.sessions())
        )
    ).first()
    if row is None:
        raise NotFound(f"no Slot/{slot_id}", code="slot_not_found")
    return fhir((await slot_rows(session, [row]))[0])
