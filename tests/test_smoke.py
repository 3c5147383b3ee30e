"""The hub starts, answers health checks and publishes its API description."""

from __future__ import annotations

from tests.client import Api


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.get("/healthz"))["status"] == "ok"
    ready = await api.get("/readyz")
    assert ready["checks"] == {"database": "ok", "migrations": "ok"}


async def test_openapi_is_3_1_and_lists_the_v1_api(api: Api) -> None:
    spec = await api.get("/openapi.json")
    assert spec["openapi"].startswith("3.1")
    assert "/v1/oauth/token" in spec["paths"] and "/v1/cities/{city}/services" in spec["paths"]
    docs = await api.get("/docs")
    assert "swagger" in docs.lower()


async def test_every_answer_carries_a_request_id(api: Api) -> None:
    await api.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert api.last is not None and api.last.headers["x-request-id"] == "abc-123"
    problem = await api.get("/v1/nowhere", expect=404)
    assert problem["request_id"] == api.last.headers["x-request-id"]
