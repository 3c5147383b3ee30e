"""Keyset paging: every list answers a page of at most `limit` items and a cursor to the next.

A cursor is opaque to clients (base64url of the last item's key, `i:<row id>` or `s:<key>`)
and stable: the same cursor names the same place in the list however often it is sent.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import pydantic_core
from fastapi import Depends, Query, Response
from pydantic import BaseModel

from cityhub.platform.errors import Unprocessable

T = TypeVar("T")
MAX_LIMIT = 100
MAX_CURSOR = 2**63 - 1
MAX_CURSOR_LENGTH = 200


def encode_cursor(key: int | str) -> str:
    """The opaque cursor of a key (a row id, or the key of a list kept in another order)."""
    raw = f"i:{key}" if isinstance(key, int) else f"s:{key}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int | None, str]:
    """The row id (for `i:` cursors) and the key as text; 422 for a cursor we never gave."""
    refused = Unprocessable("cursor is not one this API handed out", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise refused from None
    kind, _, key = raw.partition(":")
    if kind == "s" and key:
        return None, key
    # A row id we handed out: digits, and no larger than a BIGINT.
    if kind != "i" or not (key.isascii() and key.isdigit()) or int(key) > MAX_CURSOR:
        raise refused
    return int(key), key


class Page(BaseModel, Generic[T]):
    """A page of items and the cursor to pass for the next one (none on the last page)."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    """Where a page starts and how long it is."""

    after: int | None
    limit: int
    after_key: str | None = None

    def page(self, items: list[T], key: int | None = None) -> Page[T]:
        """A page of these items; `key` is the last item's id when the page is full."""
        return Page[T](items=items, next_cursor=self.next_cursor(len(items), key))

    def next_cursor(self, count: int, key: int | None) -> str | None:
        """The cursor after a page of `count` items whose last has id `key` (none unless full)."""
        return encode_cursor(key) if count == self.limit and key is not None else None

    def slice(self, items: Sequence[T], key: Callable[[T], int | str]) -> Page[T]:
        """A page of a list the service answers whole (short lists in their own order):
        the items after the cursor's, `limit` of them; a cursor whose item has gone is 422
        `cursor_expired` rather than a page that skips or repeats."""
        start = 0
        if self.after_key is not None:
            keys = [str(key(item)) for item in items]
            if self.after_key not in keys:
                raise Unprocessable(
                    "the item this cursor points after is gone: start again without a cursor",
                    code="cursor_expired",
                    field="cursor",
                )
            start = keys.index(self.after_key) + 1
        chunk = list(items[start : start + self.limit])
        more = start + self.limit < len(items)
        last = key(chunk[-1]) if chunk and more else None
        return Page[T](items=chunk, next_cursor=encode_cursor(last) if last is not None else None)

    def json_page(self, items: list[dict[str, Any]], key: int | None = None) -> Response:
        """`page(...)` as the JSON answer, serialised once, for items already dumped in the
        shape the route's `response_model` documents: FastAPI neither validates nor converts
        a returned `Response` again (a second pass over every item otherwise)."""
        body = {"items": items, "next_cursor": self.next_cursor(len(items), key)}
        return Response(pydantic_core.to_json(body), media_type="application/json")


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page"),
    ] = None,
) -> PageParams:
    """Parse `limit` and `cursor` (refusing a cursor we did not hand out)."""
    if not cursor:
        return PageParams(after=None, limit=limit)
    after, key = decode_cursor(cursor)
    return PageParams(after=after, limit=limit, after_key=key)


PageDep = Annotated[PageParams, Depends(page_params)]
