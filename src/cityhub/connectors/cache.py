"""A small in-process cache with a time to live, for public answers of providers."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class TTLCache:
    """Keeps up to `max_items` values for `ttl` seconds each (the oldest go first)."""

    def __init__(
        self, ttl: float, max_items: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self.clock = clock
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any) -> Any | None:
        """The value if present and fresh."""
        found = self._items.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= self.clock():
            del self._items[key]
            return None
        return value

    def put(self, key: Any, value: Any) -> None:
        """Keep a value for the time to live."""
        if self.ttl <= 0:
            return
        self._items[key] = (self.clock() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
