"""Fixtures of the page tests: a browser-like client on the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.web.browser import Browser


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[Browser]:
    """A visitor with an empty cookie jar and no Accept-Language."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield Browser(client)
