"""The CapabilityStatement, built from the same lists of parameters and includes the searches
parse, so it says what the server does and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request

from cityhub.appointments.fhir import appointments, directory, operations, slots
from cityhub.appointments.fhir.search import Param
from cityhub.appointments.fhir.wire import FhirRoute, base, fhir

router = APIRouter(route_class=FhirRoute)
ARGONAUT = "http://fhir.org/guides/argonaut-scheduling/OperationDefinition"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"


OPERATIONS = (
    (
        "find",
        "GET or POST (Parameters): free times as proposed Appointments; inputs "
        + ", ".join(f"{p.name} ({p.doc})" for p in operations.FIND_PARAMS),
    ),
    ("hold", "POST Parameters appt-resource (a proposed Appointment with its Patient): pending"),
    ("book", "POST Parameters appt-resource: a held Appointment (with its id) or a proposed one"),
)


def _resource(
    kind: str,
    interactions: Sequence[str],
    params: Sequence[Param] = (),
    includes: Sequence[str] = (),
    ops: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "type": kind,
        "interaction": [{"code": c} for c in interactions],
        "versioning": "no-version",
        "readHistory": False,
        "conditionalCreate": False,
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
    }
    if params:
        found["searchParam"] = [
            {"name": p.name, "type": p.type, "documentation": p.doc} for p in params
        ]
    if includes:
        found["searchInclude"] = list(includes)
    if ops:
        found["operation"] = [
            {"name": name, "definition": f"{ARGONAUT}/appointment-{name}", "documentation": doc}
            for name, doc in ops
        ]
    return found


def statement(request: Request) -> dict[str, Any]:
    """What this server does, under the base URL asked."""
    token = str(request.base_url).rstrip("/") + "/v1/oauth/token"
    search = ("read", "search-type")
    reads = [_resource(kind, ("read",)) for kind in (*directory.READABLE, "Patient")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "kind": "instance",
        "software": {"name": "CityHub"},
        "implementation": {"description": "CityHub hospital appointments", "url": base(request)},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token}]}
                    ],
                    "service": [{"coding": [{"system": SECURITY_SERVICE, "code": "OAuth"}]}],
                    "description": "OAuth2 client credentials (grant_type=client_credentials) "
                    "at the token URI; send the access token as a bearer token. Scope "
                    "appointments:write.",
                },
                "resource": [
                    _resource("Schedule", search, slots.SCHEDULE_PARAMS, slots.SCHEDULE_INCLUDES),
                    _resource("Slot", search, slots.SLOT_PARAMS, slots.SLOT_INCLUDES),
                    _resource(
                        "Appointment",
                        (*search, "create", "update", "patch"),
                        appointments.APPOINTMENT_PARAMS,
                        ops=OPERATIONS,
                    ),
                    *reads,
                ],
            }
        ],
    }


@router.get("/metadata")
async def metadata(request: Request) -> Any:
    """The CapabilityStatement (no token needed)."""
    return fhir(statement(request))
