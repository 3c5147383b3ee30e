"""The catalogue read answered before routing: the same request (path, query, bearer token)
that a full request answered under the caches' version, answered again with the same bytes
while that version stands.

What the full read checks (the token's signature, the channel active with the scope, its
grant in the city, the services) is either carried by the token, which is part of the key,
or held in tables whose every change bumps the caches' version (`platform/cache.py`). So a
request whose key was answered under the version the database holds now gets the answer the
full read would give; the token's expiry is checked on the hub's clock as the full check does,
and the rate limits count it as they count every channel request. Anything else (a moved
version, an expired token, a refused rate limit, a cookie, a database error) goes the full
way, which answers it as before.

What that saves is the request's dependencies, its session and transaction: one statement
outside a transaction (the version: one round trip on PostgreSQL) instead of
`BEGIN`, the version and `COMMIT`, and about three quarters of a cached read's CPU."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.cities.catalogue import MEDIA_TYPE, CataloguePage, etag_matches
from cityhub.platform import cache, fastsql, ratelimit
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError, Overloaded, problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cityhub.platform.db import Database

PATH = re.compile(r"^/v1/cities/[^/]+/services$")
MAX_ENTRIES = 10_000
_STORE = "catalogue_hot"


@dataclass(frozen=True)
class _Answer:
    page: CataloguePage
    version: int
    expires_at: float  # the token's expiry, seconds since the epoch
    channel_id: int
    caller: str  # as the access log names it
    route: Any  # the matched route: the metrics name the request by its template


def _key(scope: Scope) -> tuple[str, bytes, bytes] | None:
    """(path, query, bearer) of a channel's request; None for anything else."""
    authorization = cookie = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"cookie":
            cookie = value
    if authorization is None or cookie is not None or not authorization[:7].lower() == b"bearer ":
        return None
    return scope["path"], scope["query_string"], authorization


def _store(app: Any) -> dict[tuple[str, bytes, bytes], _Answer]:
    state = app.state
    found: dict[tuple[str, bytes, bytes], _Answer] | None = getattr(state, _STORE, None)
    if found is None:
        found = {}
        setattr(state, _STORE, found)
    return found


def remember(
    request: Request, session: AsyncSession, *, page: CataloguePage, channel_id: int
) -> None:
    """Keep a channel's answer for its exact request, under the version its session read
    (nothing when it read past the caches or none)."""
    from cityhub.identity.security import decode_channel_token

    key = _key(request.scope)
    seen = cache.version_seen(session)
    if key is None or seen is None or cache.bypassed(session):
        return
    settings = request.app.state.settings
    token = decode_channel_token(settings=settings, token=key[2][7:].decode("latin-1").strip())
    if token.channel_id != channel_id:
        return
    store = _store(request.app)
    if len(store) >= MAX_ENTRIES:
        store.clear()
    caller = str(getattr(request.state, "caller", f"channel:{channel_id}"))
    store[key] = _Answer(
        page, seen, token.expires_at.timestamp(), channel_id, caller, request.scope.get("route")
    )


_VERSION = fastsql.Statement(cache.READ_VERSION)


async def current_version(db: Database) -> int:
    """The caches' version now: the listener's while it vouches for it (no round trip, as
    for every cached look-up: platform/cache_listen.py), else read outside any transaction."""
    caches = db.caches
    if caches is not None and caches.vouched and caches.version is not None:
        return caches.version
    found = await _VERSION.first_outside(db.engine, {})
    return int((found or {}).get("version") or 0)


class HotCatalogue:
    """ASGI middleware, inside the others: a catalogue read answered as described above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and PATH.match(scope["path"])
            and await self._answered(scope, send)
        ):
            return
        await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, send: Send) -> bool:
        app = scope.get("app")
        key = _key(scope)
        db = getattr(getattr(app, "state", None), "db", None)
        if key is None or db is None or db.caches is None:
            return False
        store = _store(app)
        found = store.get(key)
        if found is None or found.expires_at <= utcnow().timestamp():
            return False
        try:
            version = await current_version(db)
        except PoolTimeout:  # shed as the full read sheds it, rather than waiting twice
            shed = Overloaded()
            answer = problem(
                shed.status, shed.code, shed.title, detail=shed.detail, request=Request(scope),
                headers=shed.headers,
            )  # fmt: skip
            await answer(scope, _no_body, send)
            return True
        except Exception:  # the full read meets the same trouble and answers it
            return False
        if version != found.version:
            store.pop(key, None)
            return False
        request = Request(scope)
        try:
            await ratelimit.of(request).hit(request, "default", f"channel:{found.channel_id}")
        except CityHubError:  # refused: the full read counts and refuses it
            return False
        scope.setdefault("state", {})["caller"] = found.caller
        if found.route is not None:
            scope["route"] = found.route
        await _send(scope, send, found.page)
        return True


async def _send(scope: Scope, send: Send, page: CataloguePage) -> None:
    etag = page.etag.encode()
    asked = next((v for n, v in scope["headers"] if n == b"if-none-match"), None)
    if asked is not None and etag_matches(asked.decode("latin-1"), page.etag):
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [
        (b"content-length", str(len(page.body)).encode()),
        (b"content-type", MEDIA_TYPE.encode()),
        (b"etag", etag),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": page.body})


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
