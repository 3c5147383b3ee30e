"""A provider's HTTP endpoint: base URL, client, authentication, and what a 4xx means."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from cityhub.connectors.transport import Answer, malformed, send
from cityhub.platform.errors import (
    CityHubError,
    Conflict,
    Forbidden,
    NotFound,
    Unavailable,
    Unprocessable,
)

_DEFAULT_ERRORS = {404: "not_found", 403: "forbidden", 409: "conflict", 422: "invalid"}
_ERROR_TYPES: dict[str, type[CityHubError]] = {
    "not_found": NotFound,
    "forbidden": Forbidden,
    "conflict": Conflict,
    "invalid": Unprocessable,
}


class Auth(Protocol):
    """Adds credentials to a request."""

    def headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        """The headers that authenticate this request."""
        ...


def secret(spec: dict[str, str], what: str) -> str:
    """A secret of a resolved description (`credentials.resolved`): its `value`. Nothing here
    reads the environment: what a description may name was checked when it was resolved."""
    value = spec.get("value") if isinstance(spec, dict) else None
    if not value:
        raise Unavailable(f"the {what} was not resolved", code="connector_misconfigured")
    return value


@dataclass(frozen=True)
class ApiKey:
    """A fixed key in a header."""

    header: str
    key: str

    def headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        return {self.header: self.key}


@dataclass(frozen=True)
class HmacSignature:
    """X-CityHub-Signature: hex HMAC-SHA256 of timestamp, method, path?query and body."""

    key_id: str
    key: str
    clock: Any = field(default=time.time)

    def headers(self, method: str, target: str, body: bytes) -> dict[str, str]:
        stamp = str(int(self.clock()))
        return {
            "X-CityHub-Key-Id": self.key_id,
            "X-CityHub-Timestamp": stamp,
            "X-CityHub-Signature": sign(self.key, stamp, method, target, body),
        }


def sign(key: str, stamp: str, method: str, target: str, body: bytes) -> str:
    """The HMAC signature of a request (what a provider recomputes to check it)."""
    message = f"{stamp}\n{method.upper()}\n{target}\n".encode() + body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def auth_of(spec: dict[str, Any] | None) -> Auth | None:
    """The header authentication a description asks for (mutual TLS is the client's)."""
    if not spec or spec["type"] in ("none", "mtls"):
        return None
    if spec["type"] == "api_key":
        return ApiKey(spec.get("header", "X-Api-Key"), secret(spec["key"], "API key"))
    return HmacSignature(spec["key_id"], secret(spec["secret"], "HMAC secret"))


@dataclass(frozen=True)
class Endpoint:
    """Where a provider is and how to talk to it."""

    provider: str
    base_url: str
    client: httpx.AsyncClient
    max_bytes: int
    auth: Auth | None = None
    headers: dict[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send a request to `base_url + path`."""
        return await send(
            self.client,
            method,
            self.base_url.rstrip("/") + path,
            provider=self.provider,
            max_bytes=self.max_bytes,
            params=params,
            json_body=json_body,
            headers={**self.headers, **(headers or {})},
            auth=self.auth,
        )

    def refusal(self, answer: Answer, errors: dict[str, str] | None = None) -> CityHubError:
        """The hub error for a provider's 4xx (a status it should not send is a bad answer)."""
        meaning = (errors or {}).get(str(answer.status)) or _DEFAULT_ERRORS.get(answer.status)
        body = answer.body if isinstance(answer.body, dict) else {}
        issues = body.get("issue") if isinstance(body.get("issue"), list) else None
        if issues and isinstance(issues[0], dict):  # a FHIR OperationOutcome
            body = {"message": issues[0].get("diagnostics")}
        message = body.get("message") or body.get("error") or f"HTTP {answer.status}"
        if meaning is None:
            return malformed(self.provider, f"HTTP {answer.status}: {message}")
        code = body.get("error") if isinstance(body.get("error"), str) else None
        return _ERROR_TYPES[meaning](
            f"{self.provider}: {message}"[:400], code=code or f"provider_{meaning}"
        )
