"""OAuth2 client libraries fetch tokens from the hub as from any RFC 6749 server: Authlib's
client-credentials flow gets a token it can use, and raises on a wrong secret, an unknown
scope or another grant type (it reads `error`, which the hub's problems carry)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from cityhub.platform.db import Database
from tests.identity.factories import SECRET, create_channel

TOKEN_URL = "http://hub.test/v1/oauth/token"


def oauth_client(app: Any, client_id: str, secret: str, **options: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(client_id, secret, transport=httpx.ASGITransport(app=app), **options)


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
async def test_authlib_fetches_a_token_and_uses_it(db: Database, app: Any, auth: str) -> None:
    login = await create_channel(db, scopes=("catalogue:read", "residents:write"))
    async with oauth_client(
        app, login.client_id, SECRET, scope="residents:write", token_endpoint_auth_method=auth
    ) as client:
        token = await client.fetch_token(TOKEN_URL, grant_type="client_credentials")
        assert token["token_type"] == "Bearer" and token["scope"] == "residents:write"
        assert token["expires_in"] > 0
        made = await client.post("http://hub.test/v1/residents", json={"user_id": "u1"})
        assert made.status_code == 201, made.text


async def test_authlib_raises_on_a_wrong_secret_scope_or_grant(db: Database, app: Any) -> None:
    login = await create_channel(db, scopes=("catalogue:read",))
    async with oauth_client(app, login.client_id, "wrong") as client:
        with pytest.raises(OAuthError) as wrong:
            await client.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert wrong.value.error == "invalid_client" and wrong.value.description
    async with oauth_client(app, login.client_id, SECRET, scope="payments:write") as client:
        with pytest.raises(OAuthError) as scope:
            await client.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert scope.value.error == "invalid_scope"
    async with oauth_client(app, login.client_id, SECRET) as client:
        with pytest.raises(OAuthError) as grant:
            await client.fetch_token(TOKEN_URL, grant_type="password", username="a", password="b")
    assert grant.value.error == "unsupported_grant_type"


async def test_token_errors_have_rfc_6749_status_and_headers(db: Database, app: Any) -> None:
    login = await create_channel(db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as raw:
        wrong = await raw.post(TOKEN_URL, auth=(login.client_id, "nope"),
                               data={"grant_type": "client_credentials"})  # fmt: skip
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith("Basic ")
        body = wrong.json()
        assert body["code"] == body["error"] == "invalid_client" and body["error_description"]
        grant = await raw.post(TOKEN_URL, data={"grant_type": "refresh_token"})
        assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
        bad = await raw.post(TOKEN_URL, content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
