"""A booking attempt on a full slot answered before routing, in one statement.

Most of a rush is told "sold out". The full attempt spends most of its CPU before its one
decisive read: the dependencies (the token, the channel, the city and its grant, the key), the
session and its transaction. When the same bearer token has already made a full attempt in
this city under the caches' version (`platform/cache.py`) the database holds now, all of that
was decided then and still holds: it lives in the token (part of the key) and in tables whose
every change bumps the version. So an attempt whose body the route would accept, on a slot
this process last saw full, is decided by one read outside any transaction: the very read of
the full attempt (`service.place_to_book`: the slot, its session, the request's idempotency
key) with the version beside it. The slot found, its session active, no answer under the key
and no place left is answered `409 slot_full` exactly as the full attempt answers it.
Anything else (a place left, a key that stands, another version, an expired token, a refused
rate limit, a body the route would refuse, a database error) goes the full way with the body
as it came."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhub.appointments import service
from cityhub.appointments.schemas import BookingCreate
from cityhub.platform import cache, fastsql, idempotency_late, ratelimit
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError, Overloaded, problem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

PATH = re.compile(r"^/v1/cities/([^/]{1,40})/appointments/bookings$")
MAX_BODY = 4096
MAX_ENTRIES = 10_000
_STORE = "booking_sold_out"
_FULL = "booking_full_slots"  # slots last seen full, by (city id, public id): a hint only
_READ = fastsql.Statement(
    lambda _dialect: service.to_book_query(probe=True).add_columns(
        cache.READ_VERSION.scalar_subquery().label("cache_version")
    )
)


@dataclass(frozen=True)
class _Caller:
    """What a full attempt decided about a token in a city, under a version."""

    version: int
    city_id: int
    owner: str  # the idempotency keys' owner: the channel
    expires_at: float  # the token's, seconds since the epoch
    caller: str  # as the access log names it
    route: Any  # the matched route: the metrics name the request by its template


def _key(scope: Scope) -> tuple[bytes, str] | None:
    """(bearer, city) of a channel's JSON attempt; None for anything else."""
    match = PATH.match(scope["path"])
    if match is None:
        return None
    authorization = cookie = kind = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"cookie":
            cookie = value
        elif name == b"content-type":
            kind = value
    if authorization is None or cookie is not None or authorization[:7].lower() != b"bearer ":
        return None
    if kind is None or kind.split(b";")[0].strip().lower() != b"application/json":
        return None
    return authorization, match.group(1)


def _store(app: Any) -> dict[tuple[bytes, str], _Caller]:
    found: dict[tuple[bytes, str], _Caller] | None = getattr(app.state, _STORE, None)
    if found is None:
        found = {}
        setattr(app.state, _STORE, found)
    return found


def remember(request: Request, session: AsyncSession, *, city_id: int, owner: str) -> None:
    """After a full attempt passed the token, city and scope checks: keep what they decided
    for this token and city, under the version its session read."""
    from cityhub.identity.security import decode_channel_token

    key = _key(request.scope)
    seen = cache.version_seen(session)
    if key is None or seen is None or cache.bypassed(session):
        return
    token = decode_channel_token(
        settings=request.app.state.settings, token=key[0][7:].decode("latin-1").strip()
    )
    store = _store(request.app)
    if len(store) >= MAX_ENTRIES:
        store.clear()
    caller = str(getattr(request.state, "caller", owner))
    store[key] = _Caller(
        seen, city_id, owner, token.expires_at.timestamp(), caller, request.scope.get("route")
    )


def _full_slots(app: Any) -> dict[tuple[int, str], None]:
    found: dict[tuple[int, str], None] | None = getattr(app.state, _FULL, None)
    if found is None:
        found = {}
        setattr(app.state, _FULL, found)
    return found


def seen_full(request: Request, *, city_id: int, slot: str) -> None:
    """A full attempt found the slot full: the next attempts on it are tried here first (a
    slot not seen full goes the full way at once, without this read)."""
    slots = _full_slots(request.app)
    if len(slots) >= MAX_ENTRIES:
        slots.clear()
    slots[(city_id, slot)] = None


class SoldOut:
    """ASGI middleware, inside the others: a sold-out attempt answered as described above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = _key(scope)
        found = None if key is None else _store(scope["app"]).get(key)
        if found is None or found.expires_at <= utcnow().timestamp() or _too_long(scope):
            await self.app(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        if not await _answered(scope, send, found, body):
            await self.app(scope, _replaying(messages, receive), send)


def _too_long(scope: Scope) -> bool:
    declared = next((v for n, v in scope["headers"] if n == b"content-length"), None)
    return declared is None or not declared.isdigit() or int(declared) > MAX_BODY


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return messages, body


def _replaying(messages: list[Message], receive: Receive) -> Callable[[], Awaitable[Message]]:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _idempotency_key(scope: Scope) -> tuple[bool, str | None]:
    """(acceptable, key): the route takes a key of 1 to 200 characters, or none."""
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            key = value.decode("latin-1")
            return 1 <= len(key) <= 200, key
    return True, None


async def _answered(scope: Scope, send: Send, found: _Caller, body: bytes) -> bool:
    ok, key = _idempotency_key(scope)
    if not ok:
        return False
    try:
        attempt = BookingCreate.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # the route answers it (400 or 422)
        return False
    full_slots = _full_slots(scope["app"])
    if (found.city_id, attempt.slot) not in full_slots:
        return False
    probe = {"idem_owner": found.owner, "idem_key": key or ""}
    try:
        row = await _READ.first_outside(
            scope["app"].state.db.engine,
            {"city_id": found.city_id, "slot": attempt.slot, **probe},
        )
    except PoolTimeout:  # shed as the full attempt sheds it, rather than waiting twice
        await _problem(scope, send, Overloaded())
        return True
    except Exception:  # the full attempt meets the same trouble and answers it
        return False
    if (
        row is None
        or row["cache_version"] != found.version
        or not row["clinic__active"]
        or (key is not None and row[idempotency_late.PROBE])
        or row["slot__taken"] < row["slot__capacity"]
    ):
        if row is not None and row["slot__taken"] < row["slot__capacity"]:
            full_slots.pop((found.city_id, attempt.slot), None)  # a place came free
        return False
    request = Request(scope)
    try:
        await ratelimit.of(request).hit(request, "default", found.owner)
    except CityHubError:  # refused: the full attempt counts and refuses it
        return False
    state = scope.setdefault("state", {})
    state["caller"] = found.caller
    if found.route is not None:
        scope["route"] = found.route
    await _problem(scope, send, service.full())
    return True


async def _problem(scope: Scope, send: Send, refusal: CityHubError) -> None:
    """The refusal as the app's error handler answers it."""
    answer = problem(
        refusal.status, refusal.code, refusal.title, detail=refusal.detail,
        request=Request(scope), headers=refusal.headers, field=refusal.field, **refusal.extra,
    )  # fmt: skip
    await answer(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
