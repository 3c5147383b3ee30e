"""The Argonaut scheduling operations on top of the same fair booking:
`Appointment/$find` (free times as proposed Appointments), `$hold` (a place held for a while,
`pending`) and `$book` (booked: a held one confirmed, or a new one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import flows
from cityhub.appointments.fhir import appointments, resources, search, slots
from cityhub.appointments.fhir.access import Scope, ScopeDep, where_in
from cityhub.appointments.fhir.search import Param
from cityhub.appointments.fhir.wire import FhirRoute, base, fhir, read_json
from cityhub.cities import service as cities
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import BadRequest, Unprocessable

router = APIRouter(route_class=FhirRoute)
FIND_PARAMS = (
    Param("start", "dateTime", "free times starting at or after"),
    Param("end", "dateTime", "free times starting before"),
    Param("provider", "reference", "Practitioner/pr-n"),
    Param("location", "reference", "Location/loc-n"),
    Param("specialty", "token", "a department code"),
    Param("visit-type", "token", "a department code (also `service-type`)"),
    Param("service-type", "token", "a department code"),
)
# How each $find input narrows the Slot search it runs.
_AS_SLOT: dict[str, Callable[[str], tuple[str, str]]] = {
    "start": lambda v: ("start", f"ge{v}"),
    "end": lambda v: ("start", f"lt{v}"),
    "provider": lambda v: ("schedule.actor:Practitioner", v),
    "location": lambda v: ("schedule.actor:Location", v),
    "specialty": lambda v: ("specialty", v),
    "visit-type": lambda v: ("service-type", v),
    "service-type": lambda v: ("service-type", v),
}


def _value(parameter: dict[str, Any]) -> str | None:
    """A Parameters entry's value as a search string."""
    for key, value in parameter.items():
        if not key.startswith("value"):
            continue
        if isinstance(value, str | int | bool):
            return str(value)
        if isinstance(value, dict):
            if isinstance(value.get("reference"), str):
                return str(value["reference"])
            if isinstance(value.get("code"), str):
                return f"{value.get('system') or ''}|{value['code']}".lstrip("|")
    return None


async def _inputs(request: Request) -> list[tuple[str, str]]:
    """The operation's inputs: from the query (GET) or a Parameters body (POST)."""
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        body = await read_json(request)
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise BadRequest(
                "send a Parameters resource", code="wrong_resource", field="resourceType"
            )
        raw = body.get("parameter")
        for p in raw if isinstance(raw, list) else []:
            name, value = (p.get("name"), _value(p)) if isinstance(p, dict) else (None, None)
            if isinstance(name, str) and value is not None:
                pairs.append((name, value))
    return pairs


@router.get("/Appointment/$find")
async def find(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Free times that match a service, a specialty, a practitioner, a location and a period,
    as proposed Appointments (walk them by the `next` link)."""
    return await _find(request, session, scope)


@router.post("/Appointment/$find")
async def find_posted(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """`$find` with its inputs in a Parameters body."""
    return await _find(request, session, scope)


async def _find(request: Request, session: AsyncSession, scope: Scope) -> Any:
    pairs = await _inputs(request)
    values: dict[str, list[str]] = {"status": ["free"]}
    for name, value in pairs:
        if name in _AS_SLOT:
            slot_name, slot_value = _AS_SLOT[name](value)
            values.setdefault(slot_name, []).append(slot_value)
    args = search.Args(
        values=values,
        count=search.count_of(dict(pairs).get("_count"), 50, 200),
        total=dict(pairs).get("_total") == "accurate",
        includes=(),
        cursor=dict(pairs).get("_cursor"),
    )
    found = await search.page(session, slots.slot_query(scope, args), slots.SLOT_KEYS, args)
    kept = [(n, v) for n, v in pairs if n in _AS_SLOT or n in ("_count", "_total")]
    url = f"{base(request)}/Appointment/$find"
    proposals = [
        resources.proposed(r[3], await where_in(session, r[0], r[1], r[2])) for r in found.rows
    ]
    return search.bundle(request, proposals, found, url=f"{url}?{urlencode(kept)}")


async def _appointment_input(request: Request) -> dict[str, Any]:
    """The Appointment an operation is given: `appt-resource` of a Parameters, or itself."""
    body = await read_json(request)
    if isinstance(body, dict) and body.get("resourceType") == "Appointment":
        return body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise BadRequest("send a Parameters resource", code="wrong_resource", field="resourceType")
    raw = body.get("parameter")
    for p in raw if isinstance(raw, list) else []:
        if isinstance(p, dict) and p.get("name") == "appt-resource":
            resource = p.get("resource")
            if isinstance(resource, dict) and resource.get("resourceType") == "Appointment":
                return resource
    raise Unprocessable(
        "name the Appointment in the parameter appt-resource",
        code="missing_parameter",
        field="appt-resource",
    )


def _collection(request: Request, resource: dict[str, Any]) -> Any:
    full = f"{base(request)}/Appointment/{resource['id']}"
    return fhir(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": full, "resource": resource}],
        }
    )


@router.post("/Appointment/$hold")
async def hold(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Hold the slot of a proposed Appointment for its patient: `pending` until `$book` (or
    the fee's payment) confirms it, let go when the city's hold time passes."""
    body = await _appointment_input(request)
    resource, _ = await appointments.book(session, scope, body, hold=True)
    return _collection(request, resource)


async def _confirm(session: AsyncSession, scope: Scope, appointment_id: str) -> dict[str, Any]:
    booking = await appointments.booking_of(session, scope, appointment_id)
    city = await cities.get_city(session=session, city_id=booking.city_id)
    assert city is not None
    booking = await flows.confirm_hold(session=session, city=city, booking=booking)
    return await appointments.appointment_of(session, booking)


@router.post("/Appointment/$book")
async def book(request: Request, session: SessionDep, scope: ScopeDep) -> Any:
    """Book: a held Appointment (one with an `id`, from `$hold`) is confirmed; a proposed one
    (from `$find`, with its patient) is booked at once."""
    body = await _appointment_input(request)
    if isinstance(body.get("id"), str):
        return _collection(request, await _confirm(session, scope, body["id"]))
    resource, _ = await appointments.book(session, scope, body)
    return _collection(request, resource)
