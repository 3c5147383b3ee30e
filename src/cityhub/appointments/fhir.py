"""The FHIR R4 interface at /fhir/r4: CapabilityStatement, Schedule (a session), Slot,
Appointment (a booking), as `application/fhir+json`.

The same rules as /v1 apply (they are the same service functions): a channel signs in with its
bearer token and sees only the hospitals granted to it; errors are OperationOutcomes with the
problem's status and code. Ids are the hub's public ids, unique across cities, so one base URL
serves every city.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import select

from cityhub.appointments import schedules, service, views
from cityhub.appointments.models import Booking, BookingStatus, ClinicSession, FamilyMember, Slot
from cityhub.appointments.schemas import BookingRead
from cityhub.cities import service as cities
from cityhub.cities.models import City, Grant
from cityhub.platform import jsonbody
from cityhub.platform.deps import ChannelCaller, CurrentChannel, SessionDep
from cityhub.platform.errors import BadRequest, CityHubError, NotFound, Unprocessable

FHIR_JSON = "application/fhir+json"
BOOKING_SYSTEM = "urn:cityhub:booking"
FEE_EXTENSION = "urn:cityhub:fee-payment"
SCOPE = "appointments:write"
STATUS = {
    BookingStatus.HELD: "pending",
    BookingStatus.BOOKED: "booked",
    BookingStatus.CHECKED_IN: "checked-in",
    BookingStatus.CANCELLED: "cancelled",
    BookingStatus.EXPIRED: "cancelled",
    BookingStatus.NO_SHOW: "noshow",
    BookingStatus.OFFERED: "proposed",
}
_ISSUE = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict"}


def outcome(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    """A FHIR OperationOutcome error answer."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": _ISSUE.get(status, "processing" if status < 500 else "exception"),
        "details": {"coding": [{"system": "urn:cityhub:problem", "code": code}], "text": message},
        "diagnostics": message,
    }
    if field:
        issue["expression"] = [field]
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type=FHIR_JSON,
    )


class FhirRoute(APIRoute):
    """Answers errors as OperationOutcomes instead of problem+json."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except CityHubError as exc:
                answer = outcome(exc.status, exc.code, exc.detail or exc.title, exc.field)
                for name, value in (exc.headers or {}).items():
                    answer.headers[name] = value
                return answer
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                return outcome(422, "validation_failed", f"{where}: {first.get('msg')}", where)

        return handler


router = APIRouter(prefix="/fhir/r4", tags=["fhir"], route_class=FhirRoute)
ResourceId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


def fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A FHIR JSON answer."""
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/r4"


def _bundle(request: Request, resources: list[dict[str, Any]]) -> Any:
    base = _base(request)
    return fhir(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(resources),
            "link": [{"relation": "self", "url": str(request.url)}],
            "entry": [
                {
                    "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                    "resource": r,
                    "search": {"mode": "match"},
                }
                for r in resources
            ],
        }
    )


def _instant(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


@router.get("/metadata")
async def metadata() -> Any:
    """The CapabilityStatement: what this server does."""
    search = [{"code": "read"}, {"code": "search-type"}]
    return fhir(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-25",
            "kind": "instance",
            "software": {"name": "CityHub"},
            "implementation": {"description": "CityHub hospital appointments"},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "OAuth2 client credentials at /v1/oauth/token; send the "
                        "bearer token"
                    },
                    "resource": [
                        {
                            "type": "Schedule",
                            "interaction": search,
                            "searchParam": [
                                {"name": "_id", "type": "token"},
                                {"name": "date", "type": "date"},
                            ],
                        },
                        {
                            "type": "Slot",
                            "interaction": search,
                            "searchParam": [
                                {"name": "schedule", "type": "reference"},
                                {"name": "status", "type": "token"},
                                {"name": "start", "type": "date"},
                            ],
                        },
                        {
                            "type": "Appointment",
                            "interaction": [
                                *search,
                                {"code": "create"},
                                {"code": "update"},
                                {"code": "patch"},
                            ],
                            "searchParam": [{"name": "patient", "type": "reference"}],
                        },
                    ],
                }
            ],
        }
    )


async def _granted(session: SessionDep, caller: ChannelCaller) -> set[int]:
    caller.require(SCOPE)
    rows = await session.scalars(
        select(Grant.service_id).where(Grant.channel_id == caller.channel.id)
    )
    return set(rows.all())


def _schedule(view: schedules.SessionView) -> dict[str, Any]:
    c = view.clinic
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": c.public_id,
        "active": c.active,
        "serviceType": [{"text": view.department.name}],
        "actor": [
            {"reference": f"Practitioner/{view.doctor.code}", "display": view.doctor.name},
            {
                "reference": f"HealthcareService/{view.department.code}",
                "display": view.department.name,
            },
        ],
        "comment": f"{view.service.name_en}, {c.day} {c.period.value}",
    }
    if view.slots:
        resource["planningHorizon"] = {
            "start": _instant(view.slots[0].starts_at),
            "end": _instant(view.slots[-1].ends_at),
        }
    return resource


def _slot(slot: Slot, schedule_id: str) -> dict[str, Any]:
    left = max(0, slot.capacity - slot.taken)
    return {
        "resourceType": "Slot",
        "id": slot.public_id,
        "schedule": {"reference": f"Schedule/{schedule_id}"},
        "status": "free" if left > 0 else "busy",
        "start": _instant(slot.starts_at),
        "end": _instant(slot.ends_at),
        "comment": f"{left} of {slot.capacity} places left",
    }


def _appointment(read: BookingRead) -> dict[str, Any]:
    patient = read.family_member or read.user_id
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
        {
            "actor": {
                "reference": f"Practitioner/{read.practitioner}",
                "display": read.practitioner_name,
            },
            "status": "accepted",
        },
    ]
    if read.family_member:
        participants.append(
            {"actor": {"reference": f"RelatedPerson/{read.user_id}"}, "status": "accepted"}
        )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": read.id,
        "identifier": [{"system": BOOKING_SYSTEM, "value": read.id}],
        "status": STATUS[read.status],
        "serviceType": [{"text": read.department_name}],
        "description": f"{read.hospital_name}, {read.department_name}, {read.practitioner_name}",
        "start": _instant(read.start),
        "end": _instant(read.end),
        "created": _instant(read.created_at),
        "slot": [{"reference": f"Slot/{read.slot}"}],
        "participant": participants,
    }
    if read.fee is not None:
        resource["extension"] = [{"url": FEE_EXTENSION, "valueString": read.fee.payment}]
    if read.status == BookingStatus.EXPIRED:
        resource["cancelationReason"] = {"text": "the hold or offer expired"}
    return resource


async def _city(session: SessionDep, caller: ChannelCaller, city_id: int) -> City:
    city = await session.get(City, city_id)
    assert city is not None
    await cities.require_city_granted(session=session, channel_id=caller.channel.id, city=city)
    return city


@router.get("/Schedule")
async def search_schedules(
    request: Request,
    session: SessionDep,
    caller: CurrentChannel,
    _id: Annotated[str | None, Query(alias="_id", max_length=64)] = None,
    date: Annotated[str | None, Query(max_length=12, description="YYYY-MM-DD")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=100)] = 50,
) -> Any:
    """Sessions of the hospitals granted to the channel (of a day, when `date` is given)."""
    granted = await _granted(session, caller)
    query = (
        select(ClinicSession)
        .where(ClinicSession.service_id.in_(granted), ClinicSession.active.is_(True))
        .order_by(ClinicSession.day, ClinicSession.id)
        .limit(count)
    )
    if _id:
        query = query.where(ClinicSession.public_id == _id)
    if date:
        query = query.where(ClinicSession.day == _date(date, "date"))
    clinics = list((await session.scalars(query)).all())
    found: list[dict[str, Any]] = []
    for clinic in clinics:
        [view] = await schedules.views(session=session, city_id=clinic.city_id, clinics=[clinic])
        found.append(_schedule(view))
    return _bundle(request, found)


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise Unprocessable(f"{value!r} is not a date", code="invalid_date", field=field) from None


async def _session_of(session: SessionDep, caller: ChannelCaller, public_id: str) -> ClinicSession:
    granted = await _granted(session, caller)
    clinic = await session.scalar(select(ClinicSession).where(ClinicSession.public_id == public_id))
    if clinic is None or clinic.service_id not in granted:
        raise NotFound(f"no Schedule/{public_id}", code="session_not_found")
    return clinic


@router.get("/Schedule/{schedule_id}")
async def read_schedule(
    session: SessionDep, caller: CurrentChannel, schedule_id: ResourceId
) -> Any:
    """One session as a Schedule."""
    clinic = await _session_of(session, caller, schedule_id)
    [view] = await schedules.views(session=session, city_id=clinic.city_id, clinics=[clinic])
    return fhir(_schedule(view))


@router.get("/Slot")
async def search_slots(
    request: Request,
    session: SessionDep,
    caller: CurrentChannel,
    schedule: Annotated[str, Query(max_length=80, description="Schedule/{id}")],
    status: Annotated[str | None, Query(pattern="^(free|busy)$")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 200,
) -> Any:
    """A schedule's slots; `status` filters, `start=geYYYY-MM-DD` / `start=ltYYYY-MM-DD`
    (also gt, le, eq) bound the start."""
    clinic = await _session_of(session, caller, schedule.removeprefix("Schedule/"))
    query = (
        select(Slot)
        .where(Slot.city_id == clinic.city_id, Slot.session_id == clinic.id)
        .order_by(Slot.starts_at, Slot.id)
        .limit(count)
    )
    for bound in request.query_params.getlist("start"):
        op, value = (bound[:2], bound[2:]) if bound[:2].isalpha() else ("eq", bound)
        at = _start_bound(value)
        if op == "ge":
            query = query.where(Slot.starts_at >= at)
        elif op == "gt":
            query = query.where(Slot.starts_at > at)
        elif op == "lt":
            query = query.where(Slot.starts_at < at)
        elif op == "le":
            query = query.where(Slot.starts_at <= at)
        elif op == "eq":
            query = query.where(Slot.starts_at >= at, Slot.starts_at < at + dt.timedelta(days=1))
        else:
            raise Unprocessable(f"start prefix {op!r} is not supported", field="start")
    rows = list((await session.scalars(query)).all())
    found = [_slot(s, clinic.public_id) for s in rows]
    if status:
        found = [r for r in found if r["status"] == status]
    return _bundle(request, found)


def _start_bound(value: str) -> dt.datetime:
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Unprocessable(
            f"{value!r} is not a date", code="invalid_date", field="start"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


@router.get("/Slot/{slot_id}")
async def read_slot(session: SessionDep, caller: CurrentChannel, slot_id: ResourceId) -> Any:
    """One slot."""
    granted = await _granted(session, caller)
    row = (
        await session.execute(
            select(Slot, ClinicSession)
            .join(ClinicSession, ClinicSession.id == Slot.session_id)
            .where(Slot.public_id == slot_id)
        )
    ).first()
    if row is None or row[1].service_id not in granted:
        raise NotFound(f"no Slot/{slot_id}", code="slot_not_found")
    return fhir(_slot(row[0], row[1].public_id))


def _refs(body: dict[str, Any], kind: str) -> list[str]:
    found = []
    for p in body.get("participant") or []:
        ref = ((p or {}).get("actor") or {}).get("reference") or ""
        if isinstance(ref, str) and ref.startswith(f"{kind}/"):
            found.append(ref.removeprefix(f"{kind}/"))
    return found


@router.post("/Appointment", status_code=201)
async def create_appointment(request: Request, session: SessionDep, caller: CurrentChannel) -> Any:
    """Book: an Appointment with one `slot` and a `Patient/{user_id}` participant (or
    `Patient/{family member id}` with `RelatedPerson/{user_id}`, the user who books)."""
    caller.require(SCOPE)
    body = await _json(request)
    if body.get("resourceType") != "Appointment":
        raise BadRequest("send an Appointment", code="wrong_resource", field="resourceType")
    slots = [(s or {}).get("reference", "") for s in body.get("slot") or []]
    if len(slots) != 1 or not str(slots[0]).startswith("Slot/"):
        raise Unprocessable("an Appointment books exactly one Slot", code="one_slot", field="slot")
    patients = _refs(body, "Patient")
    if len(patients) != 1:
        raise Unprocessable(
            "name exactly one Patient participant", code="one_patient", field="participant"
        )
    related = _refs(body, "RelatedPerson")
    user_id, member = patients[0], None
    if related:
        user_id, member = related[0], patients[0]
    slot_id = str(slots[0]).removeprefix("Slot/")
    city_id = await session.scalar(select(Slot.city_id).where(Slot.public_id == slot_id))
    if city_id is None:
        raise NotFound(f"no Slot/{slot_id}", code="slot_not_found", field="slot")
    city = await _city(session, caller, city_id)
    booked = await service.book(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        user_id=user_id,
        slot_public_id=slot_id,
        family_member=member,
    )
    read = views.booked_read(city, booked)
    return fhir(
        _appointment(read), 201, {"Location": f"{_base(request)}/Appointment/{read.id}/_history/1"}
    )


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = jsonbody.loads(await request.body())
    except ValueError:
        raise BadRequest("the body is not JSON", code="malformed_json") from None
    if not isinstance(body, dict | list):
        raise BadRequest("the body is not a JSON object", code="malformed_json")
    return body if isinstance(body, dict) else {"patch": body}


async def _booking_of(
    session: SessionDep, caller: ChannelCaller, public_id: str
) -> tuple[City, Booking]:
    caller.require(SCOPE)
    booking = await session.scalar(
        select(Booking).where(
            Booking.public_id == public_id, Booking.channel_id == caller.channel.id
        )
    )
    if booking is None:
        raise NotFound(f"no Appointment/{public_id}", code="booking_not_found")
    return await _city(session, caller, booking.city_id), booking


@router.get("/Appointment/{appointment_id}")
async def read_appointment(
    session: SessionDep, caller: CurrentChannel, appointment_id: ResourceId
) -> Any:
    """One of the channel's bookings."""
    city, booking = await _booking_of(session, caller, appointment_id)
    return fhir(_appointment(await views.booking_read(session=session, city=city, booking=booking)))


@router.get("/Appointment")
async def search_appointments(
    request: Request,
    session: SessionDep,
    caller: CurrentChannel,
    patient: Annotated[str, Query(max_length=140, description="Patient/{user_id or fm-...}")],
    count: Annotated[int, Query(alias="_count", ge=1, le=100)] = 50,
) -> Any:
    """The channel's bookings of one patient (its user, or a family member), newest first."""
    caller.require(SCOPE)
    who = patient.removeprefix("Patient/")
    query = select(Booking).where(Booking.channel_id == caller.channel.id)
    if who.startswith("fm-"):
        member_id = await session.scalar(
            select(FamilyMember.id).where(FamilyMember.public_id == who)
        )
        query = query.where(Booking.family_member_id == member_id)
    else:
        query = query.where(Booking.user_id == who, Booking.family_member_id.is_(None))
    rows = (await session.scalars(query.order_by(Booking.id.desc()).limit(count))).all()
    found = []
    for booking in rows:
        city = await session.get(City, booking.city_id)
        assert city is not None
        found.append(
            _appointment(await views.booking_read(session=session, city=city, booking=booking))
        )
    return _bundle(request, found)


async def _cancel(
    session: SessionDep, caller: ChannelCaller, appointment_id: str, status: Any
) -> Any:
    city, booking = await _booking_of(session, caller, appointment_id)
    if status != "cancelled":
        raise Unprocessable(
            "only a change of status to cancelled is accepted", code="only_cancel", field="status"
        )
    if booking.status not in (BookingStatus.CANCELLED,):
        booking = await service.cancel(session=session, city=city, booking=booking, by=caller.key)
    return fhir(_appointment(await views.booking_read(session=session, city=city, booking=booking)))


@router.put("/Appointment/{appointment_id}")
async def update_appointment(
    request: Request, session: SessionDep, caller: CurrentChannel, appointment_id: ResourceId
) -> Any:
    """Update an appointment: only `status: cancelled` (cancel) is accepted."""
    body = await _json(request)
    return await _cancel(session, caller, appointment_id, body.get("status"))


@router.patch("/Appointment/{appointment_id}")
async def patch_appointment(
    request: Request, session: SessionDep, caller: CurrentChannel, appointment_id: ResourceId
) -> Any:
    """Cancel with a JSON Patch (`[{"op": "replace", "path": "/status", "value":
    "cancelled"}]`) or a partial resource (`{"status": "cancelled"}`)."""
    body = await _json(request)
    status: Any = body.get("status")
    if "patch" in body:
        ops = [op for op in body["patch"] if isinstance(op, dict)]
        status = next(
            (
                op.get("value")
                for op in ops
                if op.get("op") == "replace" and op.get("path") == "/status"
            ),
            None,
        )
    return await _cancel(session, caller, appointment_id, status)
