"""The CityHub error family and its one mapping to RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
# Where a problem type points when the app does not say (`type_uri`); the app serves its own.
DEFAULT_PROBLEM_BASE = "https://cityhub.dev/problems/"
log = structlog.get_logger("cityhub.platform.errors")


class CityHubError(Exception):
    """A domain error with a stable machine `code`; services raise it, the edge maps it."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        if code:
            self.code = code
        self.field = field
        self.headers = headers or {}
        self.extra = extra


class BadRequest(CityHubError):
    """The request cannot be understood as sent."""


class Unauthorized(CityHubError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(CityHubError):
    """The caller is known but may not do this."""

    status = 403
    code = "forbidden"
    title = "Not allowed"


class NotFound(CityHubError):
    """No such object for this caller (also what another city's object looks like)."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CityHubError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(CityHubError):
    """The body, or a part of it such as a photo, is larger than the hub accepts."""

    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class Unprocessable(CityHubError):
    """The request is well-formed but breaks a rule; `field` names the culprit."""

    status = 422
    code = "invalid"
    title = "Invalid request"


class TooManyRequests(CityHubError):
    """The caller must slow down."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"


class BadGateway(CityHubError):
    """A provider answered something the hub cannot use (malformed, oversized)."""

    status = 502
    code = "bad_gateway"
    title = "Bad answer from a provider"


class Unavailable(CityHubError):
    """A dependency is down; try again later."""

    status = 503
    code = "unavailable"
    title = "Service unavailable"


class Overloaded(Unavailable):
    """No database connection came free in time (`CITYHUB_DB_POOL_TIMEOUT_SECONDS`): the hub
    sheds the request instead of queueing it for ever; the client retries after a moment."""

    code = "overloaded"
    title = "Too busy; try again shortly"
    RETRY_AFTER_SECONDS = 1

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(
            detail or "every database connection is busy; retry in a moment",
            headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
        )


def problem(
    status: int,
    code: str,
    title: str,
    *,
    detail: str | None = None,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 answer with our `code`, the request path as `instance` and the request id,
    its title and detail in the caller's language (`Content-Language`)."""
    headers = dict(headers or {})
    if request is not None:
        lang, title, detail = localize(request.app, request.headers, code, status, title, detail)
        if lang:
            headers["Content-Language"] = lang
    body: dict[str, Any] = {"type": type_uri(request.app if request else None, code)}
    body["title"] = title
    body["status"] = status
    body["code"] = code
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


def type_uri(app: Any, code: str) -> str:
    """A problem's `type`: the page of the error catalogue the hub serves for its code."""
    base = getattr(getattr(app, "state", None), "problem_base", None) or DEFAULT_PROBLEM_BASE
    return f"{base}{code}"


def localize(
    app: Any, headers: Any, code: str, status: int, title: str, detail: str | None
) -> tuple[str | None, str, str | None]:
    """The title and detail in the language the request's `Accept-Language` asks for, through
    the translator the pages install (`web/problems.py`); as they are without one."""
    translate = getattr(getattr(app, "state", None), "problem_language", None)
    if translate is None:
        return None, title, detail
    lang, title, detail = translate(headers.get("accept-language"), code, status, title, detail)
    return lang, title, detail


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid value"))
        ctx = err.get("ctx") or {}
        if isinstance(ctx.get("error"), ValueError):
            message = str(ctx["error"])
        message = message.removeprefix("Value error, ")
        errors.append({"field": _loc_to_field(err.get("loc", ())), "message": message})
    return errors


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping from exceptions to problem answers; unexpected ones are 500."""

    @app.exception_handler(CityHubError)
    async def _cityhub_error(request: Request, exc: CityHubError) -> JSONResponse:
        return problem(
            exc.status,
            exc.code,
            exc.title,
            detail=exc.detail,
            request=request,
            headers=exc.headers,
            field=exc.field,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        raw = exc.errors()
        if raw and raw[0].get("type") == "json_invalid":
            return problem(
                400,
                "malformed_json",
                "Malformed JSON",
                detail="the body is not valid JSON: " + str(raw[0].get("ctx", {}).get("error", "")),
                request=request,
                field="body",
            )
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem(
            422,
            "validation_failed",
            "Invalid request",
            detail=f"{first['field']}: {first['message']}",
            request=request,
            field=first["field"],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(exc.status_code, f"http_{exc.status_code}")
        title = str(exc.detail) if exc.detail else "Error"
        headers = dict(exc.headers) if exc.headers else None
        return problem(exc.status_code, code, title, request=request, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        # This answer is sent from outside the request-id middleware, so it carries the header
        # itself: every answer has one.
        request_id = getattr(request.state, "request_id", None)
        return problem(
            500,
            "internal_error",
            "Internal error",
            detail="something went wrong on our side; quote the request id when reporting it",
            request=request,
            headers={"X-Request-ID": request_id} if request_id else None,
        )
