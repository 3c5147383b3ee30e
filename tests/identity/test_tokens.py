"""OAuth2 client credentials: how a channel gets and uses a bearer token."""

from __future__ import annotations

import base64
import datetime as dt

import jwt

from cityhub.identity.models import Channel, ChannelStatus
from cityhub.identity.security import TOKEN_AUDIENCE
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
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
    assert grant["code"] == grant["error"] == "unsupported_grant_type"
    # RFC 6749 5.2 beside the problem: what OAuth2 client libraries read.
    assert (wrong["error"], wrong["error_description"]) == ("invalid_client", wrong["detail"])
    scope = await api.post(
        "/v1/oauth/token",
        data={**FORM, "client_id": login.client_id, "client_secret": SECRET,
              "scope": "payments:write"},
        expect=400,
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


async def test_a_token_runs_out_after_its_lifetime_on_the_hubs_clock(
    db: Database, api: Api, hub_clock: Clock
) -> None:
    login = await create_channel(db)
    token = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": SECRET},
        expect=200,
    )  # fmt: skip
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    hub_clock.advance(seconds=token["expires_in"] - 1)
    await api.get("/v1/channel", headers=bearer)
    hub_clock.advance(seconds=1)
    problem = await api.get("/v1/channel", headers=bearer, expect=401)
    assert problem["code"] == "token_expired"
    # A token issued on a clock moved forward is good from then on.
    fresh = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": SECRET},
        expect=200,
    )  # fmt: skip
    await api.get("/v1/channel", headers={"Authorization": f"Bearer {fresh['access_token']}"})


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


async def test_a_json_body_works_and_a_broken_one_is_a_400(db: Database, api: Api) -> None:
    login = await create_channel(db, scopes=("catalogue:read",))
    body = {**FORM, "client_id": login.client_id, "client_secret": SECRET}
    token = await api.post("/v1/oauth/token", json=body, expect=200)
    assert token["scope"] == "catalogue:read"
    headers = {"Content-Type": "application/json"}
    broken = await api.post(
        "/v1/oauth/token", content=b'{"grant_type": ', headers=headers, expect=400
    )
    assert (broken["code"], broken["field"]) == ("malformed_json", "body")
    listed = await api.post("/v1/oauth/token", json=[body], expect=400)
    assert listed["field"] == "body"
    # a JSON null is a missing secret, not the text "None"
    null = await api.post("/v1/oauth/token", json={**body, "client_secret": None}, expect=401)
    assert (null["code"], null["detail"]) == ("invalid_client", "send client_id and client_secret")


async def test_a_suspended_channel_cannot_get_a_token(db: Database, api: Api) -> None:
    login = await create_channel(db)
    async with db.unit_of_work() as session:
        row = await session.get(Channel, login.channel.id)
        assert row is not None
        row.status = ChannelStatus.SUSPENDED
    basic = base64.b64encode(f"{login.client_id}:{SECRET}".encode()).decode()
    for kwargs in (
        {"data": {**FORM, "client_id": login.client_id, "client_secret": SECRET}},
        {"data": FORM, "headers": {"Authorization": f"Basic {basic}"}},
    ):
        problem = await api.post("/v1/oauth/token", expect=401, **kwargs)
        assert problem["code"] == "invalid_client" and "access_token" not in problem


async def test_refused_tokens_say_so_in_the_challenge(db: Database, api: Api) -> None:
    login = await create_channel(db)
    token = await api.post(
        "/v1/oauth/token", data={**FORM, "client_id": login.client_id, "client_secret": SECRET},
        expect=200,
    )  # fmt: skip
    tampered = token["access_token"][:-2] + ("AA" if token["access_token"][-2:] != "AA" else "BB")
    for bad in (tampered, "not-a-jwt", ""):
        problem = await api.get(
            "/v1/channel", headers={"Authorization": f"Bearer {bad}"}, expect=401
        )
        assert problem["code"] in {"invalid_token", "unauthorized"}
        assert api.last is not None and "Bearer" in api.last.headers["www-authenticate"]
    problem = await api.get(
        "/v1/channel", headers={"Authorization": f"Bearer {tampered}"}, expect=401
    )
    assert problem["code"] == "invalid_token"
    assert api.last is not None and 'error="invalid_token"' in api.last.headers["www-authenticate"]


async def test_a_token_carries_only_the_scopes_it_asked_for(db: Database, api: Api) -> None:
    login = await create_channel(db)
    service = await create_service(db)
    await create_grant(db, channel=login.channel, service=service)
    city = await get_city(db, service.city_id)
    narrow = await api.as_channel(login.client_id, SECRET, scope="residents:write")
    problem = await narrow.get(f"/v1/cities/{city.slug}/services", expect=403)
    assert problem["code"] == "insufficient_scope" and "catalogue:read" in problem["detail"]
    problem = await narrow.get("/v1/residents/u1", expect=403)  # residents:read is missing
    assert problem["code"] == "insufficient_scope"
    await narrow.post("/v1/residents", json={"user_id": "u1"})  # residents:write it has
    unknown = await api.post(
        "/v1/oauth/token",
        data={**FORM, "client_id": login.client_id, "client_secret": SECRET, "scope": "root"},
        expect=400,
    )
    assert (unknown["code"], unknown["field"]) == ("invalid_scope", "scope")


async def test_a_scope_taken_away_stops_working_at_once(db: Database, api: Api) -> None:
    login = await create_channel(db, scopes=("residents:read", "residents:write"))
    channel = await api.as_channel(login.client_id, SECRET)
    await channel.post("/v1/residents", json={"user_id": "u1"})
    await channel.get("/v1/residents/u1")
    async with db.unit_of_work() as session:
        row = await session.get(Channel, login.channel.id)
        assert row is not None
        row.scopes = "residents:write"
    problem = await channel.get("/v1/residents/u1", expect=403)  # the same, unexpired token
    assert problem["code"] == "insufficient_scope"
    await channel.post("/v1/residents", json={"user_id": "u1"}, expect=200)


async def test_unsigned_and_foreign_tokens_are_refused(
    db: Database, api: Api, settings: Settings
) -> None:
    login = await create_channel(db)
    exp = int((dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).timestamp())
    claims = {"sub": f"channel:{login.channel.id}", "aud": TOKEN_AUDIENCE, "exp": exp}
    tokens = [
        jwt.encode({**claims, "scope": "residents:read"}, None, algorithm="none"),
        jwt.encode({**claims, "aud": "someone-else"}, settings.secret_key, algorithm="HS256"),
        jwt.encode({**claims, "sub": "staff:1"}, settings.secret_key, algorithm="HS256"),
        jwt.encode({**claims, "sub": "channel:999999"}, settings.secret_key, algorithm="HS256"),
    ]
    for token in tokens:
        problem = await api.get(
            "/v1/channel", headers={"Authorization": f"Bearer {token}"}, expect=401
        )
        assert problem["code"] == "invalid_token"


async def test_a_signed_token_naming_an_impossible_channel_id_is_a_401(
    api: Api, settings: Settings
) -> None:
    exp = int((dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).timestamp())
    for sub in ("channel:" + "9" * 23, "channel:9223372036854775808", "channel:0", "channel:-1",
                "channel:١٢"):  # fmt: skip
        token = jwt.encode(
            {"sub": sub, "aud": TOKEN_AUDIENCE, "scope": "", "exp": exp},
            settings.secret_key,
            algorithm="HS256",
        )
        problem = await api.get(
            "/v1/channel", headers={"Authorization": f"Bearer {token}"}, expect=401
        )
        assert problem["code"] == "invalid_token", sub
