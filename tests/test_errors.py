"""Bad input gets a clear problem naming what is wrong; nothing answers a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from cityhub.app import create_app
from cityhub.config import Settings
from cityhub.db import Database
from tests.client import Api
from tests.identity.factories import create_channel


async def _channel(db: Database, api: Api) -> Api:
    login = await create_channel(db)
    return await api.as_channel(login.client_id, login.secret)


async def test_malformed_json_and_wrong_types(db: Database, api: Api) -> None:
    channel = await _channel(db, api)
    headers = {"Content-Type": "application/json"}
    malformed = await channel.post(
        "/v1/residents", content=b'{"user_id": ', headers=headers, expect=400
    )
    assert malformed["code"] == "malformed_json"
    wrong_type = await channel.post("/v1/residents", json={"user_id": ["x"]}, expect=422)
    assert wrong_type["field"] == "user_id" and wrong_type["errors"]
    unknown = await channel.post("/v1/residents", json={"user_id": "u", "owner": "me"}, expect=422)
    assert unknown["field"] == "owner"
    not_object = await channel.post("/v1/residents", json=[1, 2], expect=422)
    assert not_object["code"] == "validation_failed"


async def test_oversized_bodies_are_refused(db: Database, api: Api, settings: Settings) -> None:
    channel = await _channel(db, api)
    big = b'{"user_id": "' + b"x" * settings.max_body_bytes + b'"}'
    headers = {"Content-Type": "application/json"}
    problem = await channel.post("/v1/residents", content=big, headers=headers, expect=413)
    assert problem["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = await channel.post("/v1/residents", content=chunks(), headers=headers, expect=413)
    assert streamed["code"] == "payload_too_large"
    assert (await channel.get("/v1/residents/" + "x" * 10, expect=404))[
        "code"
    ] == "resident_not_found"


async def test_unknown_routes_and_methods(api: Api) -> None:
    assert (await api.get("/v1/nothing-here", expect=404))["code"] == "not_found"
    assert (await api.call("PUT", "/v1/cities", expect=405))["code"] == "method_not_allowed"


async def test_an_unexpected_failure_is_a_500_problem_without_trace(
    settings: Settings, db: Database
) -> None:
    app: Any = create_app(settings, db=db)

    @app.get("/v1/explode")
    async def explode() -> None:
        raise RuntimeError("secret internals 13812345678")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        response = await client.get("/v1/explode")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
