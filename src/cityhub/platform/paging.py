"""Keyset paging: every list answers a page of at most `limit` items and a cursor to the next."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import pydantic_core
from fastapi import Depends, Query, Response
from pydantic import BaseModel

from cityhub.platform.errors import Unprocessable

T = TypeVar("T")
MAX_LIMIT = 100
MAX_CURSOR = 2**63 - 1


class Page(BaseModel, Generic[T]):
    """A page of items and the cursor to pass for the next one (none on the last page)."""

    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    """Where a page starts and how long it is."""

    after: int | None
    limit: int

    def page(self, items: list[T], key: int | None = None) -> Page[T]:
        """A page of these items; `key` is the last item's id when the page is full."""
        return Page[T](items=items, next_cursor=self.next_cursor(len(items), key))

    def next_cursor(self, count: int, key: int | None) -> str | None:
        """The cursor after a page of `count` items whose last has id `key` (none unless full)."""
        return str(key) if count == self.limit and key is not None else None

    def json_page(self, items: list[dict[str, Any]], key: int | None = None) -> Response:
        """`page(...)` as the JSON answer, serialised once, for items already dumped in the
        shape the route's `response_model` documents: FastAPI neither validates nor converts
        a returned `Response` again (a second pass over every item otherwise)."""
        body = {"items": items, "next_cursor": self.next_cursor(len(items), key)}
        return Response(pydantic_core.to_json(body), media_type="application/json")


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=20, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    """Parse `limit` and `cursor` (refusing a cursor we did not hand out)."""
    after = None
    if cursor:
        # A cursor is a row id we handed out: digits, and no larger than a BIGINT.
        if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_CURSOR:
            raise Unprocessable("cursor is not one this API handed out", field="cursor")
        after = int(cursor)
    return PageParams(after=after, limit=limit)


PageDep = Annotated[PageParams, Depends(page_params)]
