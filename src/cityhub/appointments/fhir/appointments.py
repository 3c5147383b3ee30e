"""Appointment (a booking): create, read, search, cancel by PUT or PATCH. The same service
functions as /v1 book and cancel, so the same rules hold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import flows, views
from cityhub.appointments.fhir import filters, resources, search
from cityhub.appointments.fhir.access import ResourceId, Scope, ScopeDep, where_of
from cityhub.appointments.fhir.resources import STATUS, Where
from cityhub.appointments.fhir.search import Keyset, Param
from cityhub.appointments.fhir.wire import FhirRoute, base, fhir, read_json, read_resource
from cityhub.appointments.models import Booking, BookingStatus, ClinicSession, FamilyMember, Slot
from cityhub.cities import service as cities
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import BadRequest, NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(route_class=FhirRoute)
APPOINTMENT_PARAMS = (
    Param("_id", "token", "the booking's id"),
    Param("patient", "reference", "Patient/{user id or fm-…}"),
    Param("status", "token", "proposed, pending, booked, checked-in, cancelled or noshow"),
    Param("date", "date", "the appointment's start, with R4's prefixes"),
    Param(
        "actor", "reference", "Patient, RelatedPerson, Practitioner, HealthcareService or Location"
    ),
    Param("slot", "reference", "Slot/{id}"),
)
BY_STATUS: dict[str, list[BookingStatus]] = {}
for _ours, _theirs in STATUS.items():
    BY_STATUS.setdefault(_theirs, []).append(_ours)


async def _city(session: AsyncSession, city_id: int) -> City:
    city = await cities.get_city(session=session, city_id=city_id)
    assert city is not None
    return city


async def appointment_of(session: AsyncSession, booking: Booking) -> dict[str, Any]:
    """A booking as an Appointment."""
    city = await _city(session, booking.city_id)
    clinic = await session.get(ClinicSession, booking.session_id)
    assert clinic is not None
    read = await views.booking_read(session=session, city=city, booking=booking)
    return resources.appointment(read, await where_of(session, clinic))


def _patient(value: str) -> Any:
    kind, who = search.reference(value, "Patient")
    if kind != "Patient":
        return false()
    if who.startswith("fm-"):
        member = select(FamilyMember.id).where(FamilyMember.public_id == who).scalar_subquery()
        return Booking.family_member_id == member
    return (Booking.user_id == who) & Booking.family_member_id.is_(None)


def _actor(value: str) -> Any:
    kind, who = search.reference(value)
    if kind == "Patient":
        return _patient(value)
    if kind == "RelatedPerson":
        return (Booking.user_id == who) & Booking.family_member_id.is_not(None)
    return filters.actor(value)


def _status(value: str) -> Any:
    ours = BY_STATUS.get(search.token(value)[1])
    return Booking.status.in_(ours) if ours else false()


def _query(scope: Scope, args: search.Args) -> Select[Any]:
    query = (
        select(Booking)
        .join(ClinicSession, ClinicSession.id == Booking.session_id)
        .join(Slot, Slot.id == Booking.slot_id)
        .where(Booking.channel_id == scope.caller.channel.id)
    )
    if scope.city is not None:
        query = query.where(Booking.city_id == scope.city.id)
    query = filters.apply(query, args, "_id", lambda v: Booking.public_id == v)
    query = filters.apply(query, args, "patient", _patient)
    query = filters.apply(query, args, "status", _status)
    query = filters.apply(
        query, args, "date", lambda v: search.date_clause(Slot.starts_at, v, "date")
    )
    query = filters.apply(query, args, "actor", _actor)
    return filters.apply(
        query, args, "slot", lambda v: Slot.public_id == search.reference(v, "Slot")[1]
    )


KEYS = Keyset((Booking.id,), lambda r: (r[0].id,), ("int",))


@router.get("/Appointment")
async def search_appointments(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """The channel's bookings, oldest first."""
    args = search.parse(request, APPOINTMENT_PARAMS)
    found = await search.page(session, _query(scope, args), KEYS, args)
    return search.bundle(request, [await appointment_of(session, r[0]) for r in found.rows], found)


def _refs(body: dict[str, Any], kind: str) -> list[str]:
    found = []
    participants = body.get("participant")
    for p in participants if isinstance(participants, list) else []:
        actor = p.get("actor") if isinstance(p, dict) else None
        ref = actor.get("reference") if isinstance(actor, dict) else None
        if isinstance(ref, str) and ref.startswith(f"{kind}/"):
            found.append(ref.removeprefix(f"{kind}/"))
    return found


def booking_request(body: dict[str, Any]) -> tuple[str, str, str | None]:
    """The slot, the booking user and the family member (if any) an Appointment asks for."""
    slots = body.get("slot")
    refs = (
        [s.get("reference") for s in slots if isinstance(s, dict)]
        if isinstance(slots, list)
        else []
    )
    if len(refs) != 1 or not isinstance(refs[0], str) or not refs[0].startswith("Slot/"):
        raise Unprocessable("an Appointment books exactly one Slot", code="one_slot", field="slot")
    patients = _refs(body, "Patient")
    if len(patients) != 1:
        raise Unprocessable(
            "name exactly one Patient participant", code="one_patient", field="participant"
        )
    related = _refs(body, "RelatedPerson")
    if related:
        return refs[0].removeprefix("Slot/"), related[0], patients[0]
    return refs[0].removeprefix("Slot/"), patients[0], None


async def book(
    session: AsyncSession, scope: Scope, body: dict[str, Any], *, hold: bool = False
) -> tuple[dict[str, Any], str]:
    """Book (or hold) what an Appointment asks for: its resource and its id."""
    slot_id, user_id, member = booking_request(body)
    row = (
        await session.execute(
            select(Slot.city_id, ClinicSession.service_id)
            .join(ClinicSession, ClinicSession.id == Slot.session_id)
            .where(Slot.public_id == slot_id, scope.sessions())
        )
    ).first()
    if row is None:  # a slot of a hospital not granted here is none
        raise NotFound(f"no Slot/{slot_id}", code="slot_not_found", field="slot")
    city_id = row[0]
    city = await _city(session, city_id)
    booked = await flows.book(
        session=session,
        city=city,
        channel_id=scope.caller.channel.id,
        user_id=user_id,
        slot_public_id=slot_id,
        family_member=member,
        hold=hold,
    )
    place = booked.place
    read = views.booked_read(city, booked)
    return resources.appointment(
        read, Where(place.service, place.department, place.doctor)
    ), read.id


@router.post("/Appointment", status_code=201)
async def create_appointment(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Book: an Appointment with one `slot` and a `Patient/{user_id}` participant (or
    `Patient/{family member id}` with `RelatedPerson/{user_id}`, the user who books)."""
    resource, made = await book(session, scope, await read_resource(request, "Appointment"))
    # No `_history/{v}` here: this server keeps no versions, so it promises none.
    return fhir(resource, 201, {"Location": f"{base(request)}/Appointment/{made}"})


async def booking_of(session: AsyncSession, scope: Scope, public_id: str) -> Booking:
    """One of the channel's bookings, or NotFound."""
    query = select(Booking).where(
        Booking.public_id == public_id, Booking.channel_id == scope.caller.channel.id
    )
    if scope.city is not None:
        query = query.where(Booking.city_id == scope.city.id)
    booking = await session.scalar(query)
    if booking is None:
        raise NotFound(f"no Appointment/{public_id}", code="booking_not_found")
    return booking


@router.get("/Appointment/{appointment_id}")
async def read_appointment(session: SessionDep, scope: ScopeDep, appointment_id: ResourceId) -> Any:
    """One of the channel's bookings."""
    return fhir(await appointment_of(session, await booking_of(session, scope, appointment_id)))


async def _cancel(session: AsyncSession, scope: Scope, appointment_id: str, status: Any) -> Any:
    booking = await booking_of(session, scope, appointment_id)
    if status != "cancelled":
        raise Unprocessable(
            "only a change of status to cancelled is accepted", code="only_cancel", field="status"
        )
    if booking.status != BookingStatus.CANCELLED:
        city = await _city(session, booking.city_id)
        booking = await flows.cancel(
            session=session, city=city, booking=booking, by=scope.caller.key
        )
    return fhir(await appointment_of(session, booking))


@router.put("/Appointment/{appointment_id}")
async def update_appointment(
    request: Request, session: SessionDep, scope: ScopeDep, appointment_id: ResourceId
) -> Any:
    """Update an appointment: only `status: cancelled` (cancel) is accepted."""
    body = await read_resource(request, "Appointment")
    if body.get("id") not in (None, appointment_id):
        raise BadRequest("the body's id is not the URL's", code="id_mismatch", field="id")
    return await _cancel(session, scope, appointment_id, body.get("status"))


@router.patch("/Appointment/{appointment_id}")
async def patch_appointment(
    request: Request, session: SessionDep, scope: ScopeDep, appointment_id: ResourceId
) -> Any:
    """Cancel with a JSON Patch (`[{"op": "replace", "path": "/status", "value":
    "cancelled"}]`) or a partial resource (`{"status": "cancelled"}`)."""
    body = await read_json(request)
    if isinstance(body, dict):
        return await _cancel(session, scope, appointment_id, body.get("status"))
    ops = [op for op in body if isinstance(op, dict)]
    status = next(
        (o.get("value") for o in ops if o.get("op") == "replace" and o.get("path") == "/status"),
        None,
    )
    return await _cancel(session, scope, appointment_id, status)
