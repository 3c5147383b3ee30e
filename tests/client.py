"""An API client for tests that asserts the status of every call: `api.get(url, expect=200)`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from cityhub.platform.clock import utcnow

PROBLEM = "application/problem+json"


class Api:
    """Wraps an httpx client; each call checks the status and answers the parsed body."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}
        self.last: httpx.Response | None = None
        # A channel's credentials and when its token runs out (on the hub's clock): a channel
        # asks for a new token once it has, as a real one does (tests move the clock).
        self._credentials: dict[str, str] | None = None
        self._renew_at = dt.datetime.max.replace(tzinfo=dt.UTC)

    def with_headers(self, **headers: str) -> Api:
        """A client sending these headers too (sharing cookies with this one)."""
        return Api(self.client, {**self.headers, **headers})

    async def call(self, method: str, url: str, *, expect: int = 200, **kwargs: Any) -> Any:
        """Send a request; fail the test unless the status is `expect`."""
        headers = {**await self.current_headers(), **kwargs.pop("headers", {})}
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
        """A client carrying a fresh bearer token of this channel, and a new one whenever the
        hub's clock says the last has run out."""
        data = {"grant_type": "client_credentials", "client_id": client_id}
        data["client_secret"] = secret
        if scope:
            data["scope"] = scope
        channel = Api(self.client)
        channel._credentials = data
        await channel._renew()
        return channel

    async def current_headers(self) -> dict[str, str]:
        """The headers to send now (a channel's token renewed first if it has run out), for a
        request sent around `call`."""
        if self._credentials is not None and utcnow() >= self._renew_at:
            await self._renew()
        return self.headers

    async def _renew(self) -> None:
        token = await Api(self.client).post("/v1/oauth/token", data=self._credentials, expect=200)
        self.headers["Authorization"] = f"Bearer {token['access_token']}"
        self._renew_at = utcnow() + dt.timedelta(seconds=int(token["expires_in"]))

    async def as_staff(self, username: str, password: str) -> Api:
        """A client with a console session cookie and its CSRF header (own cookie jar)."""
        client = httpx.AsyncClient(transport=self.client._transport, base_url=self.client.base_url)
        staff = Api(client)
        signed_in = await staff.post(
            "/v1/staff/session", json={"username": username, "password": password}, expect=200
        )
        staff.headers["X-CSRF-Token"] = signed_in["csrf_token"]
        return staff
