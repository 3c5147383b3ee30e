"""A simulated hospital that speaks FHIR R4 (JSON) under `/hospital/{provider_id}/fhir`.

Departments are `HealthcareService`, doctors `Practitioner` (linked to their department by
`PractitionerRole`), each doctor has one `Schedule` with half-hour `Slot`s every morning of the
coming week, and booking is creating an `Appointment` for a free slot (conditional create with
`If-None-Exist: identifier=system|value` makes it idempotent); cancelling is updating the
appointment's status to `cancelled`, which frees the slot.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from cityhub.simulators.billers import SimState
from cityhub.simulators.world import CHINA, DEPARTMENTS, SLOT_TIMES, World

FHIR_JSON = "application/fhir+json"
router = APIRouter(prefix="/hospital/{provider_id}/fhir", tags=["hospital"])
_SEARCH = [{"code": "search-type"}, {"code": "read"}]


def fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A FHIR JSON answer."""
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome(status: int, code: str, message: str) -> Any:
    """A FHIR OperationOutcome error."""
    issue = {"severity": "error", "code": code, "diagnostics": message}
    return fhir({"resourceType": "OperationOutcome", "issue": [issue]}, status)


def _bundle(request: Request, resources: list[dict[str, Any]]) -> Any:
    base = str(request.url).split("?")[0].rsplit("/", 1)[0]
    entries = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
    ]
    return fhir(
        {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
    )


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


def _state(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


@router.get("/metadata")
async def metadata(provider_id: str) -> Any:
    """The CapabilityStatement: what this server does."""
    resources: list[dict[str, Any]] = [
        {"type": kind, "interaction": _SEARCH}
        for kind in ("HealthcareService", "Practitioner", "PractitionerRole", "Schedule", "Slot")
    ]
    appointment = [{"code": c} for c in ("create", "read", "update")]
    resources.append({"type": "Appointment", "interaction": appointment, "conditionalCreate": True})
    return fhir(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2025-01-01",
            "kind": "instance",
            "software": {"name": "CityHub hospital simulator"},
            "implementation": {"description": f"simulated hospital {provider_id}"},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{"mode": "server", "resource": resources}],
        }
    )


TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"


def translated(names: tuple[str, str, str]) -> dict[str, Any]:
    """A FHIR string element in zh-Hans and its `_element` with the zh-Hant and en
    translations (the standard translation extension)."""
    extensions = [
        {"url": TRANSLATION, "extension": [{"url": "lang", "valueCode": lang},
                                           {"url": "content", "valueString": text}]}
        for lang, text in (("zh-Hant", names[1]), ("en", names[2]))
    ]  # fmt: skip
    return {"value": names[0], "extension": extensions}


def _practitioner(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": p["id"],
        "active": True,
        "name": [{"text": p["name"], "family": p["name"][0], "given": [p["name"][1:]]}],
        "qualification": [{"code": _text(p["titles"])}],
    }


@router.get("/HealthcareService")
async def departments(request: Request, provider_id: str) -> Any:
    """The departments."""
    rows = []
    for code, names in DEPARTMENTS:
        name = translated(names)
        rows.append({"resourceType": "HealthcareService", "id": code, "active": True,
                     "language": "zh-Hans", "name": name["value"],
                     "_name": {"extension": name["extension"]}})  # fmt: skip
    return _bundle(request, rows)


@router.get("/Practitioner")
async def practitioners(request: Request, provider_id: str) -> Any:
    """Every doctor."""
    return _bundle(request, [_practitioner(p) for p in _world(request).practitioners(provider_id)])


@router.get("/Practitioner/{practitioner_id}")
async def practitioner(request: Request, provider_id: str, practitioner_id: str) -> Any:
    """One doctor."""
    for p in _world(request).practitioners(provider_id):
        if p["id"] == practitioner_id:
            return fhir(_practitioner(p))
    return outcome(404, "not-found", f"no Practitioner/{practitioner_id}")


@router.get("/PractitionerRole")
async def roles(request: Request, provider_id: str, service: str | None = None) -> Any:
    """Which doctor works in which department (`service=HealthcareService/{id}` filters)."""
    wanted = service.split("/")[-1] if service else None
    rows = [
        {
            "resourceType": "PractitionerRole",
            "id": f"role-{p['id']}",
            "language": "zh-Hans",
            "active": True,
            "practitioner": {"reference": f"Practitioner/{p['id']}", "display": p["name"]},
            "healthcareService": [{"reference": f"HealthcareService/{p['department']}"}],
            "code": [_text(p["titles"])],
        }
        for p in _world(request).practitioners(provider_id)
        if wanted is None or p["department"] == wanted
    ]
    return _bundle(request, rows)


def _text(names: tuple[str, str, str]) -> dict[str, Any]:
    """A CodeableConcept's text with its translations."""
    text = translated(names)
    return {"text": text["value"], "_text": {"extension": text["extension"]}}


def _schedule(p: dict[str, Any], today: dt.date) -> dict[str, Any]:
    department = dict(DEPARTMENTS)[p["department"]][0]
    return {
        "resourceType": "Schedule",
        "id": f"sched-{p['id']}",
        "active": True,
        "serviceType": [{"text": department}],
        "actor": [
            {"reference": f"Practitioner/{p['id']}", "display": p["name"]},
            {"reference": f"HealthcareService/{p['department']}"},
        ],
        "planningHorizon": {
            "start": (today + dt.timedelta(days=1)).isoformat(),
            "end": (today + dt.timedelta(days=7)).isoformat(),
        },
    }


def _today() -> dt.date:
    return dt.datetime.now(CHINA).date()


@router.get("/Schedule")
async def schedules(request: Request, provider_id: str, actor: str | None = None) -> Any:
    """Schedules, of one doctor or department when `actor` is given."""
    rows = []
    for p in _world(request).practitioners(provider_id):
        refs = {f"Practitioner/{p['id']}", f"HealthcareService/{p['department']}"}
        if actor is None or actor in refs:
            rows.append(_schedule(p, _today()))
    return _bundle(request, rows)


def _slots(request: Request, provider_id: str, practitioner_id: str) -> list[dict[str, Any]]:
    taken = _state(request).taken_slots.get(provider_id, {})
    world = _world(request)
    rows = []
    for offset in range(1, 8):
        day = _today() + dt.timedelta(days=offset)
        for at in SLOT_TIMES:
            start = dt.datetime.combine(day, at, CHINA)
            slot_id = f"{practitioner_id}-{day:%Y%m%d}-{at:%H%M}"
            busy = slot_id in taken or world.slot_busy(provider_id, slot_id)
            rows.append(
                {
                    "resourceType": "Slot",
                    "id": slot_id,
                    "schedule": {"reference": f"Schedule/sched-{practitioner_id}"},
                    "status": "busy" if busy else "free",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(),
                }
            )
    return rows


@router.get("/Slot")
async def slots(
    request: Request, provider_id: str, schedule: str, status: str | None = None
) -> Any:
    """A schedule's slots; `start=geYYYY-MM-DD` and `start=ltYYYY-MM-DD` bound the days."""
    practitioner_id = schedule.split("/")[-1].removeprefix("sched-")
    rows = _slots(request, provider_id, practitioner_id)
    for bound in request.query_params.getlist("start"):
        op, day = bound[:2], bound[2:12]
        if op == "ge":
            rows = [s for s in rows if s["start"][:10] >= day]
        elif op == "lt":
            rows = [s for s in rows if s["start"][:10] < day]
    if status:
        rows = [s for s in rows if s["status"] == status]
    return _bundle(request, rows)


def _find_slot(request: Request, provider_id: str, slot_id: str) -> dict[str, Any] | None:
    practitioner_id = slot_id.rsplit("-", 2)[0]
    return next(
        (s for s in _slots(request, provider_id, practitioner_id) if s["id"] == slot_id), None
    )


@router.post("/Appointment")
async def book(request: Request, provider_id: str) -> Any:
    """Book a free slot (conditional create by identifier makes it idempotent)."""
    try:
        body = await request.json()
    except ValueError:
        return outcome(400, "structure", "the body is not JSON")
    known = _state(request).appointments.setdefault(provider_id, {})
    condition = request.headers.get("if-none-exist", "")
    if condition.startswith("identifier="):
        system, _, value = condition.removeprefix("identifier=").partition("|")
        for appointment in known.values():
            if {"system": system, "value": value} in appointment.get("identifier", []):
                return fhir(appointment, 200)
    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        return outcome(400, "invalid", "send an Appointment")
    refs = [s.get("reference", "") for s in body.get("slot", []) if isinstance(s, dict)]
    if len(refs) != 1 or not refs[0].startswith("Slot/"):
        return outcome(422, "required", "an Appointment books exactly one Slot")
    slot = _find_slot(request, provider_id, refs[0].removeprefix("Slot/"))
    if slot is None:
        return outcome(422, "not-found", f"no {refs[0]}")
    if slot["status"] != "free":
        return outcome(409, "conflict", f"{refs[0]} is no longer free")
    appointment_id = f"appt-{len(known) + 1}"
    appointment = {
        **body,
        "id": appointment_id,
        "status": "booked",
        "start": slot["start"],
        "end": slot["end"],
        "created": dt.datetime.now(dt.UTC).isoformat(),
    }
    known[appointment_id] = appointment
    _state(request).taken_slots.setdefault(provider_id, {})[slot["id"]] = appointment_id
    return fhir(appointment, 201, {"Location": f"Appointment/{appointment_id}"})


@router.get("/Appointment/{appointment_id}")
async def get_appointment(request: Request, provider_id: str, appointment_id: str) -> Any:
    """One appointment."""
    found = _state(request).appointments.get(provider_id, {}).get(appointment_id)
    if found is None:
        return outcome(404, "not-found", f"no Appointment/{appointment_id}")
    return fhir(found)


@router.put("/Appointment/{appointment_id}")
async def update_appointment(request: Request, provider_id: str, appointment_id: str) -> Any:
    """Update an appointment; only a change of status to `cancelled` is accepted."""
    found = _state(request).appointments.get(provider_id, {}).get(appointment_id)
    if found is None:
        return outcome(404, "not-found", f"no Appointment/{appointment_id}")
    try:
        body = await request.json()
    except ValueError:
        return outcome(400, "structure", "the body is not JSON")
    if not isinstance(body, dict) or body.get("status") not in ("cancelled", found["status"]):
        return outcome(422, "business-rule", "an appointment can only be cancelled")
    if body["status"] == "cancelled" and found["status"] != "cancelled":
        found["status"] = "cancelled"
        slot_id = found["slot"][0]["reference"].removeprefix("Slot/")
        _state(request).taken_slots.get(provider_id, {}).pop(slot_id, None)
    return fhir(found)
