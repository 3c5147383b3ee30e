"""Rate limits per channel: the RateLimit headers on every counted answer, 429 with Retry-After
past a limit, tighter limits on expensive calls and tokens; counters in the process, or in
Redis shared by every process of the hub."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.identity.factories import SECRET, create_channel
from tests.platform.factories import redis_or_skip

Hub = Callable[..., AbstractAsyncContextManager[Api]]


@asynccontextmanager
async def _start(settings: Settings, db: Database, **limits: Any) -> AsyncIterator[Api]:
    """A hub (another process, as far as its own counters go) with these settings."""
    transport = httpx.ASGITransport(app=create_app(settings.model_copy(update=limits), db=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        yield Api(client)


@pytest.fixture(params=["memory", "redis"])
def hub(request: pytest.FixtureRequest, settings: Settings, db: Database) -> Hub:
    """Start a hub with these rate-limit settings, its counters in memory or in Redis."""
    shared = {"rate_limit_prefix": f"test-{uuid.uuid4().hex}"}  # this test's counters only
    if request.param == "redis":
        shared["redis_url"] = redis_or_skip()
    return lambda **limits: _start(settings, db, **{**shared, **limits})


def _token_form(client_id: str) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": SECRET}


async def test_each_answer_says_what_is_left_and_past_the_limit_429_says_when_to_retry(
    hub: Hub, db: Database
) -> None:
    login, other = await create_channel(db), await create_channel(db)
    async with hub(rate_limit="3/minute") as api:
        channel = await api.as_channel(login.client_id, SECRET)
        for left in (2, 1, 0):
            await channel.get("/v1/channel")
            assert channel.last is not None
            assert channel.last.headers["RateLimit-Policy"] == '"default";q=3;w=60'
            remaining, reset = channel.last.headers["RateLimit"].split(";")[1:]
            assert remaining == f"r={left}" and 1 <= int(reset.removeprefix("t=")) <= 60
        problem = await channel.get("/v1/channel", expect=429)
        assert problem["code"] == "rate_limited"
        assert channel.last is not None
        assert 1 <= int(channel.last.headers["Retry-After"]) <= 60
        assert channel.last.headers["RateLimit"].startswith('"default";r=0;')
        # Another channel has counters of its own.
        await (await api.as_channel(other.client_id, SECRET)).get("/v1/channel")


async def test_every_process_shares_the_counters_in_redis(settings: Settings, db: Database) -> None:
    login = await create_channel(db)
    shared = {
        "rate_limit": "3/minute",
        "redis_url": redis_or_skip(),
        "rate_limit_prefix": f"test-{uuid.uuid4().hex}",
    }
    async with _start(settings, db, **shared) as first, _start(settings, db, **shared) as second:
        channel = await first.as_channel(login.client_id, SECRET)
        await channel.get("/v1/channel")
        await channel.get("/v1/channel")
        elsewhere = await second.as_channel(login.client_id, SECRET)
        await elsewhere.get("/v1/channel")
        await elsewhere.get("/v1/channel", expect=429)  # the fourth, counted across both


async def test_expensive_calls_and_tokens_have_tighter_limits_of_their_own(
    hub: Hub, db: Database
) -> None:
    login = await create_channel(db)
    async with hub(rate_limit_expensive="1/minute", rate_limit_token="2/minute") as api:
        channel = await api.as_channel(login.client_id, SECRET)  # the first token
        look_up = "/v1/cities/nowhere/services/water/bills"
        await channel.get(look_up, params={"account": "A-1"}, expect=404)
        assert channel.last is not None
        assert '"expensive";q=1;w=60' in channel.last.headers["RateLimit-Policy"]
        problem = await channel.get(look_up, params={"account": "A-1"}, expect=429)
        assert "expensive" in problem["detail"]
        await channel.get("/v1/channel")  # an ordinary call still goes through
        await api.post("/v1/oauth/token", data=_token_form(login.client_id), expect=200)
        refused = await api.post("/v1/oauth/token", data=_token_form(login.client_id), expect=429)
        assert refused["code"] == "rate_limited"


async def test_limits_switched_off_count_nothing(hub: Hub, db: Database) -> None:
    login = await create_channel(db)
    async with hub(rate_limits=False, rate_limit="1/minute") as api:
        channel = await api.as_channel(login.client_id, SECRET)
        for _ in range(3):
            await channel.get("/v1/channel")
        assert channel.last is not None and "RateLimit" not in channel.last.headers


def test_a_limit_setting_that_is_not_a_rate_is_refused_and_the_defaults_are_generous() -> None:
    with pytest.raises(ValidationError, match="not a rate limit"):
        Settings(env="test", rate_limit="lots")
    defaults = Settings(env="test")
    assert defaults.rate_limits and defaults.rate_limit == "6000/minute"
    assert Settings(env="test", rate_limit="").rate_limit == ""  # empty: no limit
