"""OAuth2 client credentials: how a channel gets and uses a bearer token."""

from __future__ import annotations

import base64
import datetime as dt

import jwt

from cityhub.config import Settings
from cityhub.db import Database
from cityhub.identity.models import Channel, ChannelStatus
from cityhub.identity.security import TOKEN_AUDIENCE
from tests.cities.factories import create_grant, create_service, get_city
from tests.client import Api
from tests.identity.factories import SECRET, create_channel

FORM = {"grant_type": "client_credentials"}


async def test_form_and_basic_credentials_both_work(db: Database, api: Api) -> None:
    login = await create_channel(db, scopes=("catalogue:read", "residents:read"))
    token = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": SECRET},
        expect=200,
    )  # fmt: skip
    assert token["token_type"] == "Bearer" and token["expires_in"] == 900
    assert token["scope"] == "catalogue:read residents:read"
    basic = base64.b64encode(f"{login.client_id}:{SECRET}".encode()).decode()
    narrowed = await api.post(
        "/v1/oauth/token",
        data={**FORM, "scope": "catalogue:read"},
        headers={"Authorization": f"Basic {basic}"},
        expect=200,
    )
    assert narrowed["scope"] == "catalogue:read"
    me = await api.get("/v1/channel", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me["slug"] == login.channel.slug and "client_secret" not in me


async def test_bad_credentials_are_refused(db: Database, api: Api) -> None:
    login = await create_channel(db, scopes=("catalogue:read",))
    wrong = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": "nope"},
        expect=401,
    )  # fmt: skip
    unknown = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": "ch_ghost", "client_secret": SECRET},
        expect=401,
    )  # fmt: skip
    assert wrong["code"] == unknown["code"] == "invalid_client"
    assert wrong["detail"] == unknown["detail"]  # no hint which part was wrong
    grant = await api.post(
        "/v1/oauth/token",
        data={"grant_type": "password", "client_id": login.client_id, "client_secret": SECRET},
        expect=400,
    )
    assert grant["code"] == "unsupported_grant_type"
    scope = await api.post(
        "/v1/oauth/token",
        data={**FORM, "client_id": login.client_id, "client_secret": SECRET,
              "scope": "payments:write"},
        expect=422,
    )  # fmt: skip
    assert scope["field"] == "scope"


async def test_a_suspended_channel_loses_access(db: Database, api: Api) -> None:
    login = await create_channel(db)
    channel = await api.as_channel(login.client_id, SECRET)
    await channel.get("/v1/channel")
    async with db.unit_of_work() as session:
        row = await session.get(Channel, login.channel.id)
        assert row is not None
        row.status = ChannelStatus.SUSPENDED
    problem = await channel.get("/v1/channel", expect=401)
    assert problem["code"] == "invalid_token"
    await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": SECRET},
        expect=401,
    )  # fmt: skip


async def test_expired_forged_and_narrow_tokens(db: Database, api: Api, settings: Settings) -> None:
    login = await create_channel(db, scopes=("residents:read",))
    service = await create_service(db)
    await create_grant(db, channel=login.channel, service=service)
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": f"channel:{login.channel.id}", "aud": TOKEN_AUDIENCE, "scope": ""}
    expired = jwt.encode(
        {**claims, "exp": int((now - dt.timedelta(seconds=5)).timestamp())},
        settings.secret_key,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {**claims, "exp": int((now + dt.timedelta(hours=1)).timestamp())},
        "someone-elses-key-someone-elses-key",
        algorithm="HS256",
    )
    problem = await api.get(
        "/v1/channel", headers={"Authorization": f"Bearer {expired}"}, expect=401
    )
    assert problem["code"] == "token_expired"
    problem = await api.get(
        "/v1/channel", headers={"Authorization": f"Bearer {forged}"}, expect=401
    )
    assert problem["code"] == "invalid_token"
    channel = await api.as_channel(login.client_id, SECRET)
    city = await get_city(db, service.city_id)
    problem = await channel.get(f"/v1/cities/{city.slug}/services", expect=403)
    assert problem["code"] == "insufficient_scope"
    missing = await api.get(f"/v1/cities/{city.slug}/services", expect=401)
    assert api.last is not None and "Bearer" in api.last.headers["www-authenticate"]
    assert missing["code"] == "unauthorized"
