"""Keyset paging: every list answers a page of at most `limit` items and a cursor to the next."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
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
        full = len(items) == self.limit and key is not None
        return Page[T](items=items, next_cursor=str(key) if full else None)


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
