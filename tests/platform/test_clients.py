"""Who is asking: X-Forwarded-For is believed only from the operator's proxies
(`CITYHUB_TRUSTED_PROXIES`); any other client, 127.0.0.1 included, is known by its own address,
so rotating the header buys no fresh allowance of guesses."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.client import Api
from tests.outbox_helpers import Hub, eventually
from tests.platform.factories import FakeClock

PER_ADDRESS = 2
At = Callable[[str], Awaitable[Api]]


def guess(n: int) -> dict[str, str]:
    """A wrong secret for a client id of its own (no account's limit is ever reached)."""
    return {"grant_type": "client_credentials", "client_id": f"ch_nobody{n}", "client_secret": "x"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"sign_in_attempts_per_address": PER_ADDRESS, "trusted_proxies": "10.0.0.0/8"}
    )


@pytest.fixture
async def at(settings: Settings, db: Database) -> AsyncIterator[At]:
    """Clients whose connections come from the address given."""
    app = create_app(settings, db=db)
    app.state.throttle.clock = FakeClock()  # no wait runs out while the test goes on
    async with AsyncExitStack() as stack:

        async def client_at(peer: str) -> Api:
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            client = httpx.AsyncClient(transport=transport, base_url="http://hub.test")
            return Api(await stack.enter_async_context(client))

        yield client_at


async def test_a_trusted_proxy_names_the_client_and_a_spoofed_front_is_ignored(at: At) -> None:
    proxy = await at("10.0.0.7")
    for n in range(PER_ADDRESS):
        # The client wrote a new address at the front each time; the proxy appended the real one.
        forwarded = {"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.5"}
        await proxy.post("/v1/oauth/token", data=guess(n), headers=forwarded, expect=401)

    await proxy.post(
        "/v1/oauth/token",
        data=guess(9),
        headers={"X-Forwarded-For": "198.51.100.99, 203.0.113.5"},
        expect=429,
    )
    # Another client behind the same proxy has its own allowance.
    await proxy.post(
        "/v1/oauth/token", data=guess(10), headers={"X-Forwarded-For": "203.0.113.6"}, expect=401
    )


async def test_a_client_that_is_no_trusted_proxy_cannot_name_itself(at: At) -> None:
    spoofer = await at("192.0.2.50")
    for n in range(PER_ADDRESS):
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        await spoofer.post("/v1/oauth/token", data=guess(n), headers=headers, expect=401)

    await spoofer.post(
        "/v1/oauth/token", data=guess(9), headers={"X-Forwarded-For": "203.0.113.99"}, expect=429
    )


async def test_cityhub_serve_believes_no_forwarded_address_unless_told(
    db: Database, tmp_path: Path
) -> None:
    """The real server: uvicorn's own proxy handling (which believes 127.0.0.1) is off, so a
    client on the hub's machine cannot pose as many."""
    hub = Hub(db.url, tmp_path, CITYHUB_SIGN_IN_ATTEMPTS_PER_ADDRESS=str(PER_ADDRESS))
    hub.start("serve")
    try:
        base = f"http://127.0.0.1:{hub.port}"
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=30) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=120, what=lambda: f"the hub:\n{hub.output()}")
            # All at once, each posing as another address: the limit is reached in a moment,
            # long before its first wait (a second) runs out.
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/v1/oauth/token",
                        data=guess(n),
                        headers={"X-Forwarded-For": f"203.0.113.{n}"},
                    )
                    for n in range(PER_ADDRESS + 3)
                )
            )
    finally:
        hub.stop()
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {401: PER_ADDRESS, 429: 3}, statuses
    assert {a.json()["code"] for a in answers if a.status_code == 429} == {"too_many_attempts"}
    assert '"client": "127.0.0.1"' in hub.log.read_text()  # the access log names the peer


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert Settings(trusted_proxies=" 10.0.0.0/8, 192.0.2.1 ,::1").trusted_proxy_list == [
        "10.0.0.0/8",
        "192.0.2.1",
        "::1",
    ]
    for wrong in ("*", "proxy.internal", "10.0.0.0/33"):
        with pytest.raises(ValidationError, match="CITYHUB_TRUSTED_PROXIES"):
            Settings(trusted_proxies=wrong)
