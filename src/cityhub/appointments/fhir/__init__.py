"""The FHIR R4 interface at /fhir/r4: Schedule (a session), Slot, Appointment (a booking), the
directory they point at, the Argonaut `$find` / `$hold` / `$book`, as `application/fhir+json`.

The same rules as /v1 apply (they are the same service functions): a channel signs in with its
bearer token and sees only the hospitals granted to it; every error is an OperationOutcome.
`/fhir/r4` serves every city that granted the channel something; `/fhir/r4/cities/{slug}` is
the same interface narrowed to one city.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.routing import Match

from cityhub.appointments.fhir import appointments, capability, directory, operations, slots
from cityhub.appointments.fhir.wire import FhirRoute, outcome

_inner = APIRouter(route_class=FhirRoute)
# Operations first: `Appointment/$find` must not be read as `Appointment/{id}`.
for _part in (capability, operations, slots, appointments, directory):
    _inner.include_router(_part.router)

router = APIRouter(tags=["fhir"])
router.include_router(_inner, prefix="/fhir/r4/cities/{city}")
router.include_router(_inner, prefix="/fhir/r4")


@router.api_route(
    "/fhir/r4/{rest:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    include_in_schema=False,
)
async def unknown(request: Request, rest: str) -> Any:
    """Anything else under /fhir/r4: an OperationOutcome (405 when only the method is wrong)."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "endpoint", None) is unknown:
            continue
        match, _ = route.matches(request.scope)
        if match == Match.PARTIAL:
            allowed |= set(getattr(route, "methods", None) or ())
    if allowed:
        return outcome(
            405,
            "method_not_allowed",
            f"{request.method} is not supported here",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return outcome(404, "not_found", f"nothing at /fhir/r4/{rest}", "url")


__all__ = ["router"]
