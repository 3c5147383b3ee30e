"""ASGI middleware: request id, access log and metrics, and the request body size limit."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.platform import jsonbody, metrics, sandbox
from cityhub.platform.errors import PROBLEM_JSON, localize, type_uri

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
        sandbox.use(sandbox.LIVE)  # every request starts live; a test token's check says otherwise
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
                mode = scope["state"].get(sandbox.STATE_KEY)
                if mode:  # a channel's token: its mode on every answer, problems included
                    headers.append((sandbox.HEADER.encode(), str(mode).encode()))
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

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Routes that take uploads (a report's photos) and check each part themselves.
        self.larger = tuple(larger)

    def _limit(self, path: str) -> int:
        for pattern, limit in self.larger:
            if pattern.match(path):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 now; the app sees the client gone and its output is dropped.
                    refused = True
                    await self._refuse(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        await send_problem(
            scope, send, 413, "payload_too_large", "Request body too large",
            f"the body must not exceed {limit} bytes",
        )  # fmt: skip


def _is_json(content_type: bytes) -> bool:
    """JSON as routes read it: no content type at all (FastAPI parses such a body as JSON)
    or any `application/...json` / `...+json` type."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return not media or media.endswith(b"json")


class JsonDepthLimit:
    """Refuses a JSON body nested deeper than `jsonbody.MAX_DEPTH` with a 400 problem, for
    every route at once (FastAPI's models, the token endpoint and the FHIR facade alike),
    before any parser recurses into it. Sits inside `BodyLimit`, so what it holds in memory
    is bounded by the body limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if not _is_json(dict(scope["headers"]).get(b"content-type", b"")):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went (or BodyLimit refused it): the app sees that
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            jsonbody.check_depth(bytes(body))
        except jsonbody.JSONTooDeep as exc:
            await send_problem(scope, send, 400, "json_too_deep", "JSON nested too deeply",
                               str(exc), field="body")  # fmt: skip
            return
        replay = iter(messages)

        async def replaying_receive() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replaying_receive, send)


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    title: str,
    detail: str,
    **extra: Any,
) -> None:
    """An RFC 9457 answer sent from middleware (outside FastAPI's error mapping), in the
    caller's language as every problem is."""
    app = scope.get("app")
    asked = Headers(scope=scope)
    lang, title, said = localize(app, asked, code, status, title, detail)
    detail = said or detail
    body: dict[str, Any] = {
        "type": type_uri(app, code),
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        "instance": scope["path"],
        **extra,
    }
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    media = PROBLEM_JSON
    if scope["path"].startswith("/fhir/"):
        # FHIR clients read an OperationOutcome, not a problem.
        media, body = "application/fhir+json", _outcome(body)
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(payload)).encode()),
                *([(b"content-language", lang.encode())] if lang else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# The FHIR issue type of a problem middleware answers (R4 ValueSet issue-type).
_ISSUE_TYPES = {413: "too-long", 400: "structure"}


def _outcome(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem answered by middleware as a FHIR OperationOutcome."""
    coding = {"system": "urn:cityhub:problem", "code": problem["code"]}
    issue = {
        "severity": "error",
        "code": _ISSUE_TYPES.get(problem["status"], "processing"),
        "details": {"coding": [coding], "text": problem["detail"]},
        "diagnostics": problem["detail"],
    }
    return {"resourceType": "OperationOutcome", "issue": [issue]}
