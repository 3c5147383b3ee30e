"""Who is asking: the client's address, believed from `X-Forwarded-For` only when the peer is
one of the operator's proxies (`CITYHUB_TRUSTED_PROXIES`).

The hub applies uvicorn's proxy-headers middleware itself, with that list, so every way of
serving it (`cityhub serve`, another ASGI server, the tests) reads the same address; uvicorn's
own handling, which believes 127.0.0.1 by default, is switched off in `cityhub serve`. Of the
addresses in `X-Forwarded-For`, the one believed is the last that is not a trusted proxy: the
peer that the first trusted proxy on the way in saw, never what the client wrote at the front
of the header.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

UNKNOWN = "unknown"


class TrustedProxies:
    """The client address (and scheme) as the trusted proxies forwarded it, else the peer's."""

    def __init__(self, app: ASGIApp, trusted: list[str]) -> None:
        self.app = app
        # No proxy listed: nothing to believe; the peer's own address stands.
        self.inner = ProxyHeadersMiddleware(app, trusted_hosts=trusted) if trusted else None  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.inner is None:
            await self.app(scope, receive, send)
            return
        await self.inner(scope, receive, send)  # type: ignore[arg-type]


def client_address(request: Request) -> str:
    """The address of the client making the request (see the module's text)."""
    return request.client.host if request.client else UNKNOWN
