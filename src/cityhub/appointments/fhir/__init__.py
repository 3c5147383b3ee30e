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
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from cityhub.appointments.fhir import appointments, capability, directory, operations, slots
from cityhub.appointments.fhir.wire import FhirRoute, outcome

_PARTS = (capability, operations, slots, appointments, directory)
_inner = APIRouter(route_class=FhirRoute)
# Operations first: `Appointment/$find` must not be read as `Appointment/{id}`.
for _part in _PARTS:
    _inner.include_router(_part.router)

# The paths this interface answers and their methods, to tell a wrong method (405) from a
# wrong path (404).
_METHODS = [
    (compile_path(prefix + route.path)[0], route.methods or set())
    for part in _PARTS
    for route in part.router.routes
    if isinstance(route, APIRoute)
    for prefix in ("/fhir/r4", "/fhir/r4/cities/{city}")
]

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
    path = request.url.path
    allowed = {m for pattern, methods in _METHODS if pattern.match(path) for m in methods}
    if allowed:
        return outcome(
            405,
            "method_not_allowed",
            f"{request.method} is not supported here",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    return outcome(404, "not_found", f"nothing at /fhir/r4/{rest}", "url")


__all__ = ["router"]
