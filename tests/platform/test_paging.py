"""Cursors are opaque and stable; a list the service answers whole is paged like the rest."""

from __future__ import annotations

import pytest

from cityhub.platform.errors import Unprocessable
from cityhub.platform.paging import PageParams, decode_cursor, encode_cursor
from tests.client import Api


def test_a_cursor_is_opaque_and_names_the_same_place_every_time() -> None:
    assert encode_cursor(42) == encode_cursor(42) and "42" not in encode_cursor(42)
    assert decode_cursor(encode_cursor(42)) == (42, "42")
    assert decode_cursor(encode_cursor("water")) == (None, "water")
    for forged in ("42", "aTotMQ", "eDox", "!!", encode_cursor("")):
        with pytest.raises(Unprocessable):
            decode_cursor(forged)


def test_a_whole_list_is_sliced_after_the_cursors_item() -> None:
    items = ["b", "a", "d", "c", "e"]  # the service's own order, not sorted
    first = PageParams(after=None, limit=2).slice(items, key=str)
    assert first.items == ["b", "a"] and first.next_cursor
    _, key = decode_cursor(first.next_cursor)
    second = PageParams(after=None, limit=2, after_key=key).slice(items, key=str)
    assert second.items == ["d", "c"]
    _, key = decode_cursor(str(second.next_cursor))
    last = PageParams(after=None, limit=2, after_key=key).slice(items, key=str)
    assert last.items == ["e"] and last.next_cursor is None
    with pytest.raises(Unprocessable) as gone:
        PageParams(after=None, limit=2, after_key="a").slice(["b", "d"], key=str)
    assert gone.value.code == "cursor_expired"


async def test_the_categories_are_walked_page_by_page_to_the_end(api: Api) -> None:
    every = (await api.get("/v1/categories?limit=100"))["items"]
    assert len(every) > 3
    seen, cursor = [], None
    while True:
        page = await api.get(
            "/v1/categories", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        assert len(page["items"]) <= 3
        seen += [c["code"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["code"] for c in every]
    problem = await api.get("/v1/categories", params={"cursor": "not-ours"}, expect=422)
    assert problem["field"] == "cursor"
