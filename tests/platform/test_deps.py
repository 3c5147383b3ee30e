"""The request dependencies: the platform's name no domain (the caller is the identity domain's,
installed at app start), and the bearer token is checked once per request, however many
dependencies ask for the caller."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from cityhub.cities.deps import CityDep
from cityhub.identity import deps as identity_deps
from cityhub.identity import security
from cityhub.identity.deps import CurrentCaller, CurrentChannel
from cityhub.platform import deps
from cityhub.platform.db import Database
from tests.cities.factories import create_city, create_grant, create_service
from tests.client import Api
from tests.identity.factories import create_channel


async def test_the_caller_key_needs_the_identity_domain_installed() -> None:
    bare: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace()))
    with pytest.raises(RuntimeError, match="identity.deps.install"):
        await deps.caller_key(bare, bare, bare)


def test_the_app_overrides_no_dependency(app: Any) -> None:
    # Any entry makes FastAPI re-read every dependency's signature on every request.
    assert app.dependency_overrides == {}


async def test_the_token_is_verified_once_per_request(
    app: Any, api: Api, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    @app.get("/v1/cities/{city}/deps-probe")
    async def probe(channel: CurrentChannel, caller: CurrentCaller, city: CityDep) -> Any:
        return {"channel": channel.channel.slug, "city": city.slug}

    city = await create_city(db)
    login = await create_channel(db)
    await create_grant(db, channel=login.channel, service=await create_service(db, city=city))
    channel = await api.as_channel(login.client_id, login.secret)
    decoded: list[str] = []

    def counting(*, settings: Any, token: str) -> security.ChannelToken:
        decoded.append(token)
        return security.decode_channel_token(settings=settings, token=token)

    monkeypatch.setattr(identity_deps, "decode_channel_token", counting)
    answer = await channel.get(f"/v1/cities/{city.slug}/deps-probe")
    assert answer == {"channel": login.channel.slug, "city": city.slug}
    assert len(decoded) == 1
