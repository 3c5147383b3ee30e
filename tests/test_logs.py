"""Log lines are JSON with the request id, and personal numbers in them are masked."""

from __future__ import annotations

import io
import json
import logging

import httpx

from cityhub.app import create_app
from cityhub.identity.pii import scrub
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.identity.factories import id_number

ID = id_number(7)


def test_scrub_masks_numbers_in_free_text() -> None:
    text = f"user {ID} called from 13812345678 about bill 2024"
    assert (
        scrub(text) == f"user {ID[:3]}{'*' * 11}{ID[-4:]} called from 138****5678 about bill 2024"
    )


async def test_request_log_lines_are_masked_json(settings: Settings, db: Database) -> None:
    app = create_app(settings, db=db)
    stream = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
            response = await client.get(f"/v1/residents/{ID}-13812345678")
    finally:
        handler.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    request = next(line for line in lines if line.get("event") == "request")
    assert request["request_id"] == response.headers["x-request-id"]
    assert ID not in stream.getvalue() and "13812345678" not in stream.getvalue()
    assert "138****5678" in request["path"]
