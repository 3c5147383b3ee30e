"""The FHIR wire: `application/fhir+json` answers, OperationOutcome errors, Bundles, request
bodies read safely, and the base URL (with the city selector) links are built on."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from cityhub.platform import jsonbody
from cityhub.platform.errors import BadRequest, CityHubError

FHIR_JSON = "application/fhir+json"
PROBLEM_SYSTEM = "urn:cityhub:problem"
MAX_DEPTH = 32  # no FHIR resource we accept nests deeper
log = structlog.get_logger("cityhub.appointments.fhir")

# R4 issue-type codes (http://hl7.org/fhir/issue-type) by HTTP status.
_ISSUE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "business-rule",
    429: "throttled",
    502: "transient",
    503: "transient",
}
# Our codes whose issue type says more than the status does.
_ISSUE_BY_CODE = {
    "malformed_json": "structure",
    "json_too_deep": "structure",
    "validation_failed": "invalid",
    "invalid_date": "value",
    "invalid_param": "value",
    "unknown_param": "not-supported",
    "insufficient_scope": "security",
}


def outcome(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A FHIR OperationOutcome error answer: the R4 issue type, our stable code, the field."""
    issue: dict[str, Any] = {
        "severity": "error" if status < 500 else "fatal",
        "code": _ISSUE_BY_CODE.get(code)
        or _ISSUE.get(status, "processing" if status < 500 else "exception"),
        "details": {"coding": [{"system": PROBLEM_SYSTEM, "code": code}], "text": message},
        "diagnostics": message,
    }
    if field:
        issue["expression"] = [field]
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def error_outcome(exc: CityHubError) -> JSONResponse:
    """The OperationOutcome of a domain error."""
    return outcome(exc.status, exc.code, exc.detail or exc.title, exc.field, exc.headers or None)


class FhirRoute(APIRoute):
    """Answers every error as an OperationOutcome instead of problem+json (a 500 too)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except CityHubError as exc:
                return error_outcome(exc)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                parts = [str(p) for p in first.get("loc", ()) if p not in ("query", "path")]
                where = ".".join(parts) or "request"
                return outcome(400, "validation_failed", f"{where}: {first.get('msg')}", where)
            except Exception:
                log.exception("fhir_unhandled_error", path=request.url.path)
                request_id = getattr(request.state, "request_id", None)
                return outcome(
                    500,
                    "internal_error",
                    "something went wrong on our side; quote the request id when reporting it",
                    headers={"X-Request-ID": request_id} if request_id else None,
                )

        return handler


def fhir(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A FHIR JSON answer."""
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def base(request: Request) -> str:
    """The FHIR base URL the request came in on (`/fhir/r4`, or one city's `/fhir/r4/cities/x`)."""
    root = str(request.base_url).rstrip("/") + "/fhir/r4"
    city = request.path_params.get("city")
    return f"{root}/cities/{city}" if city else root


def entry(request: Request, resource: dict[str, Any], mode: str = "match") -> dict[str, Any]:
    """A Bundle entry with its full URL."""
    found: dict[str, Any] = {"resource": resource, "search": {"mode": mode}}
    if resource.get("id"):
        found = {"fullUrl": f"{base(request)}/{resource['resourceType']}/{resource['id']}", **found}
    return found


async def read_json(request: Request) -> dict[str, Any] | list[Any]:
    """The request's JSON body (an object or, for a JSON Patch, an array), or BadRequest."""
    raw = await request.body()
    try:
        body = jsonbody.loads(raw, limit=MAX_DEPTH)
    except jsonbody.JSONTooDeep:
        raise BadRequest(
            f"the body nests deeper than {MAX_DEPTH} levels", code="json_too_deep", field="body"
        ) from None
    except ValueError:
        raise BadRequest(
            "the body is not valid JSON", code="malformed_json", field="body"
        ) from None
    if not isinstance(body, dict | list):
        raise BadRequest("the body is not a JSON object", code="malformed_json", field="body")
    return body


async def read_resource(request: Request, kind: str) -> dict[str, Any]:
    """A JSON body that is a resource of the given type, or BadRequest."""
    body = await read_json(request)
    if not isinstance(body, dict) or body.get("resourceType") != kind:
        raise BadRequest(f"send a {kind}", code="wrong_resource", field="resourceType")
    return body
