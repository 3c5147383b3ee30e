"""Sending one request to a provider and reading its answer safely.

Answers are read up to the policy's size limit (an oversized answer is a 502, not a memory
spike), must be JSON when JSON is expected (a malformed answer is a 502), and a 5xx or a broken
connection is a `ProviderFailure` that the guard counts and may retry. What a 4xx means is the
connector's business: the status and parsed body go back to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from cityhub.connectors.resilience import ProviderFailure
from cityhub.platform import jsonbody
from cityhub.platform.errors import BadGateway, Unavailable
from cityhub.platform.outbound import DestinationRefused

if TYPE_CHECKING:
    from cityhub.connectors.endpoint import Auth

USER_AGENT = "CityHub-Connector/1"


@dataclass(frozen=True)
class Answer:
    """A provider's answer: status, headers and parsed JSON body (None when empty)."""

    status: int
    body: Any
    headers: httpx.Headers


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    max_bytes: int,
    params: dict[str, Any] | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    auth: Auth | None = None,
) -> Answer:
    """Send a request; the answer's JSON, or ProviderFailure / BadGateway."""
    all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    if json_body is not None and content is None:
        content = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
        all_headers.setdefault("Content-Type", "application/json")
    request = client.build_request(method, url, params=params, content=content, headers=all_headers)
    if auth is not None:
        target = request.url.raw_path.decode("ascii")
        request.headers.update(auth.headers(method, target, content or b""))
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
    except httpx.TransportError as exc:
        raise ProviderFailure(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    except DestinationRefused as exc:  # the SSRF guard: the city must fix its connector
        raise Unavailable(str(exc), code="connector_misconfigured", provider=provider) from None
    try:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(provider, max_bytes)
        raw = bytearray()
        try:
            async for chunk in response.aiter_raw():
                raw.extend(chunk)
                if len(raw) > max_bytes:
                    raise _too_large(provider, max_bytes)
        except httpx.TransportError as exc:
            raise ProviderFailure(f"the answer broke off: {type(exc).__name__}") from None
    finally:
        await response.aclose()
    if response.status_code >= 500:
        raise ProviderFailure(f"HTTP {response.status_code}")
    if 300 <= response.status_code < 400:
        raise BadGateway(
            f"{provider} answered a redirect, which connectors do not follow",
            code="provider_bad_answer",
            provider=provider,
        )
    body = None
    if raw.strip():
        try:
            body = jsonbody.loads(bytes(raw))
        except (UnicodeDecodeError, ValueError):
            raise BadGateway(
                f"{provider} answered something that is not JSON",
                code="provider_bad_answer",
                provider=provider,
            ) from None
    return Answer(status=response.status_code, body=body, headers=response.headers)


def _too_large(provider: str, max_bytes: int) -> BadGateway:
    return BadGateway(
        f"{provider} answered more than {max_bytes} bytes",
        code="provider_answer_too_large",
        provider=provider,
    )


def malformed(provider: str, what: str) -> BadGateway:
    """The 502 for an answer that parsed but does not have the expected shape."""
    return BadGateway(
        f"{provider} answered in an unexpected shape: {what}"[:400],
        code="provider_bad_answer",
        provider=provider,
    )
