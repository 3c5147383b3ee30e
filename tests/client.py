"""An API client for tests that asserts the status of every call: `api.get(url, expect=200)`."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


class Api:
    """Wraps an httpx client; each call checks the status and answers the parsed body."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}
        self.last: httpx.Response | None = None

    def with_headers(self, **headers: str) -> Api:
        """A client sending these headers too (sharing cookies with this one)."""
        return Api(self.client, {**self.headers, **headers})

    async def call(self, method: str, url: str, *, expect: int = 200, **kwargs: Any) -> Any:
        """Send a request; fail the test unless the status is `expect`."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.client.request(method, url, headers=headers, **kwargs)
        self.last = response
        assert response.status_code == expect, (
            f"{method} {url}: expected {expect}, got {response.status_code}: {response.text}"
        )
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith(PROBLEM), response.headers
            body = response.json()
            assert body["status"] == response.status_code and body["code"], body
            assert "Traceback" not in response.text
            return body
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    async def get(self, url: str, *, expect: int = 200, **kwargs: Any) -> Any:
        return await self.call("GET", url, expect=expect, **kwargs)

    async def post(self, url: str, *, expect: int = 201, **kwargs: Any) -> Any:
        return await self.call("POST", url, expect=expect, **kwargs)

    async def patch(self, url: str, *, expect: int = 200, **kwargs: Any) -> Any:
        return await self.call("PATCH", url, expect=expect, **kwargs)

    async def delete(self, url: str, *, expect: int = 204, **kwargs: Any) -> Any:
        return await self.call("DELETE", url, expect=expect, **kwargs)

    async def as_channel(self, client_id: str, secret: str, scope: str | None = None) -> Api:
        """A client carrying a fresh bearer token of this channel."""
        data = {"grant_type": "client_credentials", "client_id": client_id}
        data["client_secret"] = secret
        if scope:
            data["scope"] = scope
        token = await self.post("/v1/oauth/token", data=data, expect=200)
        return Api(self.client, {"Authorization": f"Bearer {token['access_token']}"})

    async def as_staff(self, username: str, password: str) -> Api:
        """A client with a console session cookie and its CSRF header (own cookie jar)."""
        client = httpx.AsyncClient(transport=self.client._transport, base_url=self.client.base_url)
        staff = Api(client)
        signed_in = await staff.post(
            "/v1/staff/session", json={"username": username, "password": password}, expect=200
        )
        staff.headers["X-CSRF-Token"] = signed_in["csrf_token"]
        return staff
