"""The person's history: each domain's items merged newest first, paged by an opaque cursor.

Which channels count: every channel where the person is linked with proof (their own record,
a code to their phone, a confirmation by a channel already linked). A channel whose own link
to the person is not proven (name and number alone) sees only what was done through itself.
A notice reaches the person, not a channel: every proven channel of the person sees it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import personal as appointments
from cityhub.billing import personal as billing
from cityhub.cities import service as cities
from cityhub.identity import service as identity
from cityhub.identity.pii import Vault
from cityhub.lottery import service as lottery
from cityhub.notices import service as notices
from cityhub.platform import timeline
from cityhub.platform.errors import NotFound, Unprocessable
from cityhub.queries import service as queries
from cityhub.requests import service as requests

KINDS = ("application", "booking", "consent", "notice", "payment", "query", "request")
MAX_ROW_ID = 2**63 - 1
MAX_CITIES = 10_000


@dataclass(frozen=True)
class Scope:
    """Whose history, seen by which channel, over which channels."""

    resident_id: int
    viewer_channel_id: int
    channel_ids: frozenset[int]
    users: tuple[tuple[int, str], ...]  # the person's channel users in those channels
    city_ids: tuple[int, ...]  # every city: each domain's look-up is by city first
    viewer_proven: bool  # else the viewer sees only its own items, and no notice


async def scope_for(*, session: AsyncSession, resident_id: int, viewer_channel_id: int) -> Scope:
    """The channels whose items the viewer may see in the person's history."""
    links = await identity.links_of(session=session, resident_id=resident_id)
    viewer_proven = any(link.proven for link in links if link.channel_id == viewer_channel_id)
    allowed = {viewer_channel_id}
    if viewer_proven:
        allowed |= {link.channel_id for link in links if link.proven}
        # Live and sandbox never mix: a test channel sees test channels' items, live live.
        channels = await identity.get_channels_by_id(session=session, channel_ids=allowed)
        viewer = channels.get(viewer_channel_id)
        mode = viewer.mode if viewer is not None else "live"
        allowed = {viewer_channel_id} | {i for i, c in channels.items() if c.mode == mode}
    users = tuple((link.channel_id, link.user_id) for link in links if link.channel_id in allowed)
    every = await cities.get_all_cities(session=session, after=None, limit=MAX_CITIES)
    return Scope(
        resident_id,
        viewer_channel_id,
        frozenset(allowed),
        users,
        tuple(c.id for c in every),
        viewer_proven,
    )


Source = Callable[
    [AsyncSession, Scope, timeline.Before | None, int], Awaitable[list[timeline.Entry]]
]


def _sources() -> dict[str, Source]:
    def of_person(fn: Callable[..., Awaitable[list[timeline.Entry]]]) -> Source:
        async def read(
            session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
        ) -> list[timeline.Entry]:
            return await fn(
                session=session,
                city_ids=scope.city_ids,
                resident_id=scope.resident_id,
                channel_ids=set(scope.channel_ids),
                before=before,
                limit=limit,
            )

        return read

    def of_hub(fn: Callable[..., Awaitable[list[timeline.Entry]]]) -> Source:
        """A source of hub-wide rows (consents, the data-access log): no city to ask by."""

        async def read(
            session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
        ) -> list[timeline.Entry]:
            return await fn(
                session=session,
                resident_id=scope.resident_id,
                channel_ids=set(scope.channel_ids),
                before=before,
                limit=limit,
            )

        return read

    async def payments(
        session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
    ) -> list[timeline.Entry]:
        return await billing.payments_of(
            session=session, city_ids=scope.city_ids, users=scope.users, before=before, limit=limit
        )

    async def bookings(
        session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
    ) -> list[timeline.Entry]:
        return await appointments.bookings_of(
            session=session,
            city_ids=scope.city_ids,
            resident_id=scope.resident_id,
            users=scope.users,
            before=before,
            limit=limit,
        )

    async def inbox(
        session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
    ) -> list[timeline.Entry]:
        if not scope.viewer_proven:
            return []
        return await notices.inbox_of(
            session=session, resident_id=scope.resident_id, before=before, limit=limit
        )

    return {
        "application": of_person(lottery.applications_of),
        "booking": bookings,
        "consent": of_hub(identity.consents_of),
        "notice": inbox,
        "payment": payments,
        "query": of_hub(queries.queries_of),
        "request": of_person(requests.requests_of),
    }


SOURCES = _sources()


async def page(
    *, session: AsyncSession, scope: Scope, before: timeline.Before | None, limit: int
) -> tuple[list[timeline.Entry], timeline.Before | None]:
    """One page of the history, newest first, and where the next starts (none at the end)."""
    merged: list[timeline.Entry] = []
    for read in SOURCES.values():
        merged += await read(session, scope, before, limit + 1)
    merged.sort(key=timeline.sort_key, reverse=True)
    shown = merged[:limit]
    more = len(merged) > limit
    return shown, (timeline.Before.of(shown[-1]) if more and shown else None)


async def get_or_raise(
    *, session: AsyncSession, scope: Scope, vault: Vault, item_id: str
) -> timeline.Entry:
    """One item of the person's history by the id the history gave it; another person's or
    another channel's unseen item does not exist (404)."""
    mark = _read_mark(vault, item_id)
    if mark is not None:
        # The item itself is the first one "older" than a mark just after it.
        after_it = timeline.Before(at=mark.at, kind=mark.kind, row_id=mark.row_id + 1)
        found = await SOURCES[mark.kind](session, scope, after_it, 1)
        if found and found[0].row_id == mark.row_id and found[0].kind == mark.kind:
            return found[0]
    raise NotFound("no such item in this history", code="history_item_not_found")


def item_id(vault: Vault, entry: timeline.Entry) -> str:
    """The item's id in the history: opaque (sealed), so no channel learns another's row ids,
    and the same on every page (the nonce is derived from the sealed text, as in AES-SIV: equal
    ids give away only that two answers name the same item)."""
    plain = json.dumps([entry.kind, entry.row_id, entry.at.isoformat()])
    nonce = bytes.fromhex(vault.lookup_hash("history-item", plain))[:12]
    sealed = nonce + AESGCM(vault.data_key).encrypt(nonce, plain.encode(), None)
    return base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def _read_mark(vault: Vault, token: str) -> timeline.Before | None:
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return _mark(json.loads(vault.decrypt(blob)))
    except Exception:  # a token we did not seal: any failure means "not one of ours"
        return None


def encode_cursor(before: timeline.Before | None) -> str | None:
    """The opaque cursor of a mark."""
    if before is None:
        return None
    raw = json.dumps([before.kind, before.row_id, before.at.isoformat()]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> timeline.Before | None:
    """The mark of a cursor this API handed out, or 422."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        mark = _mark(json.loads(raw))
    except ValueError:
        mark = None
    if mark is None:
        raise Unprocessable("cursor is not one this API handed out", field="cursor")
    return mark


def _mark(value: object) -> timeline.Before | None:
    if not (isinstance(value, list) and len(value) == 3):
        return None
    kind, row_id, at = value
    if kind not in KINDS or not isinstance(row_id, int) or not 0 < row_id <= MAX_ROW_ID:
        return None
    if not isinstance(at, str):
        return None
    moment = dt.datetime.fromisoformat(at)
    if moment.tzinfo is None:
        return None
    return timeline.Before(at=moment, kind=kind, row_id=row_id)
