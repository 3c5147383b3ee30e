"""The OpenAPI description as the contract, written in one place: FastAPI's document of the
routes, then what FastAPI cannot know added here once for every operation. Every error answer
is declared as the one RFC 9457 `Problem` (`application/problem+json`) for each status the
operation can answer; security comes from the caller dependencies a route declares (the
identity domain names them), with the scopes its code requires; schema names are made unique
and readable; examples, and the webhooks a channel receives, are given by the caller.

A route adds what only it knows with `openapi_extra=route_meta(...)` (a required
`Idempotency-Key`, an extra status, the schema of its problems). The committed `openapi.json`
is this document; `cityhub openapi` writes it again.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

PROBLEM_JSON = "application/problem+json"
_META = "x-cityhub"
_CALLED = re.compile(r"\b([a-z_]\w*)\(")
_REQUIRE = re.compile(r"\.require\(\s*(?:\"([^\"]+)\"|'([^']+)'|([A-Z_][A-Z0-9_]*))\s*\)")

PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An RFC 9457 problem document. Program against `code`, never the title.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the kind of problem"},
        "title": {"type": "string", "description": "a short human summary"},
        "status": {"type": "integer", "description": "the HTTP status"},
        "code": {"type": "string", "description": "the stable machine code"},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "instance": {"type": "string", "description": "the path of the request"},
        "request_id": {"type": "string", "description": "quote it when reporting a problem"},
        "field": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "the input at fault, for validation problems",
        },
        "errors": {
            "type": "array",
            "description": "every input at fault (422 validation_failed)",
            "items": {"$ref": "#/components/schemas/ProblemError"},
        },
        "retry_after": {"type": "integer", "description": "seconds to wait (429)"},
    },
    "additionalProperties": True,
    "examples": [
        {
            "type": "https://cityhub.dev/problems/validation_failed",
            "title": "Invalid request",
            "status": 422,
            "code": "validation_failed",
            "detail": "amount_fen: Input should be greater than 0",
            "field": "amount_fen",
            "errors": [{"field": "amount_fen", "message": "Input should be greater than 0"}],
            "instance": "/v1/cities/shanghai/payments",
            "request_id": "3d0edaf4f316472d9519e19192f5dccd",
        }
    ],
}
PROBLEM_ERROR: dict[str, Any] = {
    "title": "ProblemError",
    "type": "object",
    "required": ["field", "message"],
    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
}
# RFC 6749 5.2: what OAuth2 client libraries read, beside the problem's own fields.
OAUTH_PROBLEM: dict[str, Any] = {
    "title": "OAuthProblem",
    "allOf": [
        {"$ref": "#/components/schemas/Problem"},
        {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "string",
                    "enum": [
                        "invalid_request",
                        "invalid_client",
                        "invalid_grant",
                        "unauthorized_client",
                        "unsupported_grant_type",
                        "invalid_scope",
                    ],
                },
                "error_description": {"type": "string"},
            },
        },
    ],
}

STATUS_TEXT = {
    400: "Malformed request (`malformed_json`, a missing required header, ...)",
    401: "No or bad credentials (`unauthorized`, `invalid_token`, `token_expired`, ...)",
    403: "Known caller, not allowed (`insufficient_scope`, `city_not_granted`, ...)",
    404: "No such object for this caller (another city's object looks the same)",
    409: "The state does not allow it (`conflict`, `concurrent_change`, ...)",
    413: "The body is larger than the hub accepts (`payload_too_large`)",
    422: "Well-formed but wrong (`validation_failed`, ...): `field` names the input",
    429: "Too many attempts: wait `Retry-After` seconds",
    503: "Try again shortly (`overloaded`, `unavailable`): `Retry-After` when known",
}


def csv_body(description: str, example: str) -> dict[str, Any]:
    """A CSV request body, as `text/csv` and as bytes (`application/octet-stream`, what
    client generators that know no CSV send): the hub reads the text either way."""
    return {
        "required": True,
        "description": description,
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": example},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }


def route_meta(
    *,
    problems: Iterable[int] = (),
    idempotency_required: bool = False,
    problem_schema: str | None = None,
    scopes: Iterable[str] | None = None,
    also_succeeds: dict[int, str] | None = None,
    media_type: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A route's `openapi_extra`: the statuses it answers beyond those its parameters and
    callers imply, an `Idempotency-Key` it refuses to go without (400), the schema of its
    problems (`OAuthProblem` on the token endpoint), scopes its code requires beyond those
    read from it; other statuses its success may take, with the same body (`{200: "updated"}`
    beside a 201), and the media type of that body when it is not JSON; `extra` is merged into
    the operation as is (a `requestBody`)."""
    meta: dict[str, Any] = {"problems": sorted(problems)}
    if idempotency_required:
        meta["idempotency_required"] = True
    if problem_schema:
        meta["problem_schema"] = problem_schema
    if scopes is not None:
        meta["scopes"] = sorted(scopes)
    if also_succeeds:
        meta["also_succeeds"] = {str(k): v for k, v in also_succeeds.items()}
    if media_type:
        meta["media_type"] = media_type
    return {_META: meta, **extra}


@dataclass(frozen=True)
class Callers:
    """How the identity domain authenticates: the dependencies that want a channel's bearer
    token, a staff session, or either; the scopes a token may carry; where a token is got."""

    channel: Callable[..., Any]
    staff: Callable[..., Any]
    either: Callable[..., Any]
    scopes: dict[str, str]
    token_url: str
    session_cookie: str


@dataclass
class Contract:
    """What the caller adds to FastAPI's document."""

    callers: Callers
    examples: dict[str, list[Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Models a route reads itself (a body parsed by hand) that FastAPI therefore never saw.
    models: list[type[BaseModel]] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)


def install(app: FastAPI, contract: Contract) -> None:
    """Serve the finished document at `/openapi.json` (built once, as FastAPI's is)."""
    plain = app.openapi
    finished: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        spec = plain()  # FastAPI's own, cached until the routes change
        if not finished or finished[0] is not spec:
            finish(app, spec, contract)
            finished[:] = [spec]
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def api_routes(app: FastAPI) -> Iterator[tuple[str, routing.APIRoute]]:
    """Every route in the description, with its full path (as included: a router included
    with `include_in_schema=False` is left out)."""
    for context in routing.iter_route_contexts(app.routes):
        # The context answers the route's attributes as its inclusion made them.
        if isinstance(context.original_route, routing.APIRoute) and context.include_in_schema:
            yield context.path or "", cast(routing.APIRoute, context)


def lacking_operation_ids(app: FastAPI) -> list[str]:
    """The routes whose decorator names no `operation_id` (or no `summary`)."""
    return [
        f"{sorted(route.methods or ())} {path} ({route.endpoint.__module__}.{route.name})"
        for path, route in api_routes(app)
        if not route.operation_id or not route.summary
    ]


def finish(app: FastAPI, spec: dict[str, Any], contract: Contract) -> None:
    """Add problems, security, schema names, examples and webhooks to FastAPI's document."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    # Copies: the document is rewritten in place below (refs renamed), the constants are not.
    schemas.update(
        copy.deepcopy(
            {"Problem": PROBLEM, "ProblemError": PROBLEM_ERROR, "OAuthProblem": OAUTH_PROBLEM}
        )
    )
    schemas.update(copy.deepcopy(contract.schemas))
    if contract.models:
        _, found = models_json_schema(
            [(m, "validation") for m in contract.models],
            ref_template="#/components/schemas/{model}",
        )
        for name, schema in found.get("$defs", {}).items():
            schemas.setdefault(name, schema)
    callers = contract.callers
    spec["components"]["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "channels: OAuth2 client credentials (RFC 6749 4.4)",
            "flows": {
                "clientCredentials": {"tokenUrl": callers.token_url, "scopes": callers.scopes}
            },
        },
        "consoleSession": {
            "type": "apiKey",
            "in": "cookie",
            "name": callers.session_cookie,
            "description": "staff: the console session (POST /v1/staff/session); writes also "
            "send its CSRF token as `X-CSRF-Token`",
        },
    }
    routes = {route.operation_id: route for _path, route in api_routes(app)}
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            route = routes.get(operation.get("operationId"))
            if route is not None:
                _operation(operation, route, callers)
    spec["components"]["responses"] = _problem_responses(spec)
    _rename_schemas(spec, contract.renames)
    _local_times(spec["components"]["schemas"])
    for name, examples in contract.examples.items():
        if name in schemas:
            schemas[name]["examples"] = copy.deepcopy(examples)
    if contract.webhooks:
        spec["webhooks"] = copy.deepcopy(contract.webhooks)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _required_scopes(calls: Iterable[Callable[..., Any]]) -> set[str]:
    """The scopes the code of a route, its dependencies and the helpers of their own module
    they call require (`caller.require("payments:write")`, or of a module constant)."""
    found: set[str] = set()
    seen: set[Any] = set()
    todo = list(calls)
    while todo:
        call = todo.pop()
        if call in seen:
            continue
        seen.add(call)
        try:
            source = inspect.getsource(call)
        except (OSError, TypeError):
            continue
        module = inspect.getmodule(call)
        names = vars(module) if module else {}
        for literal, quoted, constant in _REQUIRE.findall(source):
            value = literal or quoted or names.get(constant)
            if isinstance(value, str):
                found.add(value)
        for name in _CALLED.findall(source):
            helper = names.get(name)
            if inspect.isfunction(helper) and helper.__module__ == call.__module__:
                todo.append(helper)
    return found


def _operation(operation: dict[str, Any], route: routing.APIRoute, callers: Callers) -> None:
    meta: dict[str, Any] = operation.pop(_META, {})
    calls = list(_calls(route.dependant))
    # A route that asks for a channel (or staff) is theirs alone, even where a dependency
    # (the city in the path) takes either.
    by_channel = callers.channel in calls
    by_staff = callers.staff in calls
    if not (by_channel or by_staff) and callers.either in calls:
        by_channel = by_staff = True
    # Error answers a route declares itself (`responses=`) become problems like the rest.
    statuses = set(meta.get("problems", []))
    statuses |= {int(s) for s in operation.get("responses", {}) if s.isdigit() and int(s) >= 400}
    security: list[dict[str, list[str]]] = []
    if by_channel:
        scopes = set(meta["scopes"]) if "scopes" in meta else _required_scopes(calls)
        security.append({"oauth2": sorted(scopes)})
    if by_staff:
        security.append({"consoleSession": []})
    if security:
        operation["security"] = security
        statuses |= {401, 403}
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        statuses |= {400, 413}
    if (route.methods or set()) - {"GET", "HEAD"}:
        statuses.add(409)
    for parameter in parameters:
        if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
            statuses |= {409, 422}
            if meta.get("idempotency_required"):
                parameter["required"] = True
                parameter["schema"] = {"type": "string", "minLength": 1, "maxLength": 200}
                statuses.add(400)
    statuses.add(503)
    responses = operation.setdefault("responses", {})
    _successes(responses, meta)
    schema = meta.get("problem_schema", "Problem")
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{schema}{status}"}
    responses["default"] = {"$ref": "#/components/responses/ProblemDefault"}


def _successes(responses: dict[str, Any], meta: dict[str, Any]) -> None:
    """The success answer under each other status it may take, in its media type."""
    first = next((k for k in sorted(responses) if k.startswith("2")), None)
    if first is None:
        return
    if "media_type" in meta:
        content = responses[first].get("content", {})
        responses[first]["content"] = {meta["media_type"]: next(iter(content.values()), {})}
    for status, description in meta.get("also_succeeds", {}).items():
        responses[status] = {**copy.deepcopy(responses[first]), "description": description}


def _problem_responses(spec: dict[str, Any]) -> dict[str, Any]:
    """The problem answers the operations refer to, one per schema and status used."""
    used: set[str] = set()
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            for answer in operation.get("responses", {}).values():
                ref = answer.get("$ref", "")
                if ref.startswith("#/components/responses/"):
                    used.add(ref.rsplit("/", 1)[-1])
    found: dict[str, Any] = {}
    for name in sorted(used):
        schema, status = re.fullmatch(r"([A-Za-z]+?)(\d+|Default)", name).groups()  # type: ignore[union-attr]
        found[name] = {
            "description": STATUS_TEXT.get(int(status), "A problem")
            if status.isdigit()
            else "Any other problem (500 `internal_error`: quote the `request_id`)",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/" + schema}}},
        }
    return found


def _local_times(node: Any) -> None:
    """JSON Schema's `time` is RFC 3339's, with an offset; the hub's times of day (quiet
    hours, booking windows) are local to the city and carry none: say so with a pattern."""
    if isinstance(node, dict):
        if node.get("format") == "time":
            del node["format"]
            node["pattern"] = r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$"
            node.setdefault("description", "a time of day in the city's time zone")
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def _schema_name(name: str, schema: dict[str, Any], renames: dict[str, str]) -> str:
    if name in renames:
        return renames[name]
    if "Page_" in name:  # a page takes the name of its items
        items = schema.get("properties", {}).get("items", {}).get("items", {})
        ref = items.get("$ref", "")
        if ref:
            return _schema_name(ref.rsplit("/", 1)[-1], {}, renames) + "Page"
    if "__" in name:  # FastAPI's module-qualified name for two models of one name
        parts = name.split("__")
        return parts[1].title().removesuffix("s") + parts[-1]
    return name.replace("-Output", "").replace("-Input", "Input")


def _rename_schemas(spec: dict[str, Any], renames: dict[str, str]) -> None:
    """Readable, unique names: `Page_PaymentRead_` becomes `PaymentReadPage`; two models of
    one name (FastAPI's `cityhub__billing__schemas__AccountRead`) take their domain's name
    unless `renames` chooses one."""
    schemas: dict[str, Any] = spec["components"]["schemas"]
    mapping = {old: _schema_name(old, schema, renames) for old, schema in schemas.items()}
    if len(set(mapping.values())) != len(mapping):
        raise RuntimeError(f"two schemas would share a name: {sorted(mapping.items())}")
    spec["components"]["schemas"] = {mapping[k]: v for k, v in schemas.items()}
    for old, new in mapping.items():
        if old != new:
            spec["components"]["schemas"][new]["title"] = new

    def rewrite(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                node["$ref"] = "#/components/schemas/" + mapping.get(ref[21:], ref[21:])
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    rewrite(spec)
