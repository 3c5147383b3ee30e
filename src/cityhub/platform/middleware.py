"""ASGI middleware: request id, access log and metrics, and the request body size limit."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.platform import metrics
from cityhub.platform.errors import PROBLEM_JSON

log = structlog.get_logger("cityhub.http")
REQUEST_ID_HEADER = "x-request-id"


class RequestContext:
    """Gives every request an id (or takes the caller's), logs it and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = sent if 0 < len(sent) <= 64 and sent.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == REQUEST_ID_HEADER.encode() for name, _ in headers):
                    headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.observe_request(scope["method"], template, status, elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round(elapsed * 1000, 1),
                caller=scope.get("state", {}).get("caller"),
                client=(scope.get("client") or ("unknown",))[0],
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodyLimit:
    """Refuses bodies over `max_bytes` with a 413 problem, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer 413 now; the app sees the client gone and its output is dropped.
                    refused = True
                    await self._refuse(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body: dict[str, Any] = {
            "type": "https://cityhub.dev/problems/payload_too_large",
            "title": "Request body too large",
            "status": 413,
            "code": "payload_too_large",
            "detail": f"the body must not exceed {self.max_bytes} bytes",
            "instance": scope["path"],
        }
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            body["request_id"] = request_id
        media = PROBLEM_JSON
        if scope["path"].startswith("/fhir/"):
            # FHIR clients read an OperationOutcome (issue type too-long), not a problem.
            media, body = "application/fhir+json", _too_long_outcome(body)
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media.encode()),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _too_long_outcome(problem: dict[str, Any]) -> dict[str, Any]:
    """The 413 problem as a FHIR OperationOutcome."""
    coding = {"system": "urn:cityhub:problem", "code": problem["code"]}
    issue = {
        "severity": "error",
        "code": "too-long",
        "details": {"coding": [coding], "text": problem["detail"]},
        "diagnostics": problem["detail"],
    }
    return {"resourceType": "OperationOutcome", "issue": [issue]}
