"""Bad input gets a clear problem naming what is wrong; nothing answers a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import func, select

from cityhub.app import create_app
from cityhub.identity.models import ChannelUser, Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.cities.factories import create_city
from tests.client import Api
from tests.identity.factories import PASSWORD, create_channel, create_staff


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
    assert channel.last is not None
    assert problem["request_id"] == channel.last.headers["x-request-id"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = await channel.post("/v1/residents", content=chunks(), headers=headers, expect=413)
    assert streamed["code"] == "payload_too_large"
    assert channel.last is not None and "content-length" not in channel.last.request.headers
    # ...nothing was written, and a body at the limit is still read
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelUser)) == 0
    fits = b'{"user_id": "u1", "phone": "13812345678"}'
    padded = fits[:-1] + b" " * (settings.max_body_bytes - len(fits)) + b"}"
    assert len(padded) == settings.max_body_bytes
    await channel.post("/v1/residents", content=padded, headers=headers)


async def test_unknown_routes_and_methods(api: Api) -> None:
    assert (await api.get("/v1/nothing-here", expect=404))["code"] == "not_found"
    assert (await api.call("PUT", "/v1/cities", expect=405))["code"] == "method_not_allowed"
    assert api.last is not None and "GET" in api.last.headers["allow"]
    assert (await api.delete("/v1/oauth/token", expect=405))["code"] == "method_not_allowed"


async def test_nested_and_header_fields_are_named(db: Database, api: Api) -> None:
    city = await create_city(db)
    admin = await create_staff(db, role=Role.OPERATOR)
    staff = await api.as_staff(admin.username, PASSWORD)
    names = {"zh-Hans": "名", "zh-Hant": "名", "en": 7}
    problem = await staff.patch(f"/v1/cities/{city.slug}", json={"names": names}, expect=422)
    assert problem["field"] == "names.en"
    extra = {**names, "en": "Name", "fr": "Nom"}
    problem = await staff.patch(f"/v1/cities/{city.slug}", json={"names": extra}, expect=422)
    assert problem["field"] == "names.fr"
    problem = await staff.post(
        "/v1/staff/session", content=b"{oops", headers={"Content-Type": "application/json"},
        expect=400,
    )  # fmt: skip
    assert problem["code"] == "malformed_json"
    problem = await staff.get("/v1/cities?limit=many", expect=422)
    assert problem["field"] == "limit"
    long_key = {"Idempotency-Key": "k" * 201}
    problem = await staff.post("/v1/cities", json={}, headers=long_key, expect=422)
    assert "Idempotency-Key" in {e["field"] for e in problem["errors"]}


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
        quoted = await client.get("/v1/explode", headers={"X-Request-ID": "trace-me-42"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "internal_error" and body["request_id"]
    assert body["status"] == 500 and body["instance"] == "/v1/explode"
    assert response.headers["x-request-id"] == body["request_id"]
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "RuntimeError" not in response.text and "13812345678" not in response.text
    assert quoted.json()["request_id"] == quoted.headers["x-request-id"] == "trace-me-42"
    assert len(quoted.headers.get_list("x-request-id")) == 1


DEEP = b"[" * 100_000


async def test_deeply_nested_json_is_a_400_on_every_route(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, login.secret)
    json_type = {"Content-Type": "application/json"}
    token = await api.post("/v1/oauth/token", content=DEEP, headers=json_type, expect=400)
    assert (token["code"], token["field"]) == ("json_too_deep", "body")
    # closed brackets, objects, a charset, no content type at all: the same
    closed = b'{"a":' * 1000 + b"1" + b"}" * 1000
    for body, headers in (
        (DEEP, json_type),
        (b"[" * 500 + b"]" * 500, {"Content-Type": "application/json; charset=utf-8"}),
        (closed, {"Content-Type": "application/merge-patch+json"}),
        (DEEP, {}),
    ):
        problem = await channel.post("/v1/residents", content=body, headers=headers, expect=400)
        assert problem["code"] == "json_too_deep"
    fhir = {**channel.headers, "Content-Type": "application/fhir+json"}
    answer = await api.client.post("/fhir/r4/Appointment", content=DEEP, headers=fhir)
    assert answer.status_code == 400 and "json_too_deep" in answer.text
    # A route that reads its body itself refuses it whatever the content type says.
    sneaky = {**channel.headers, "Content-Type": "text/plain"}
    answer = await api.client.post("/fhir/r4/Appointment", content=DEEP, headers=sneaky)
    assert answer.status_code == 400, answer.text
    sneaky = {"Content-Type": "application/json; x=1", "X-Ignore": "1"}
    await api.post("/v1/oauth/token", content=b'["' + b"[" * 100 + b'"]', headers=sneaky,
                   expect=400)  # fmt: skip
    # nesting within the limit, and brackets inside strings, are read as usual
    fine = b'{"user_id": "u[[[[' + b"[" * 200 + b'", "phone": "13812345678"}'
    read = await channel.post("/v1/residents", content=fine, headers=json_type, expect=422)
    assert read["field"] == "user_id"  # parsed: too long an id, not too deep a document
    await channel.post("/v1/residents", json={"user_id": "u1", "phone": "13812345678"})
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ChannelUser)) == 1
