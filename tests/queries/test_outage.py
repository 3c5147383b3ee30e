"""With one provider failing, its calls answer 503 fast once its breaker is open, the breaker
recovers when the provider returns, and other providers go on answering."""

from __future__ import annotations

import asyncio
import time

from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.db import Database
from tests.client import Api
from tests.queries.factories import query_world
from tests.simulators.fixtures import Sim

TIMEOUT = 1.0
POLICY = {"timeout": TIMEOUT, "retries": 0, "failure_threshold": 2, "reset_after": 1.0}


async def test_a_failing_provider_fails_fast_once_open_recovers_and_harms_no_other(
    api: Api, db: Database, sim: Sim, hub: ConnectorHub
) -> None:
    hub.memo.ttl = 0  # no cache: every call goes to the provider
    world = await query_world(db, api, resilience=POLICY)
    air = {"params": {"district": "静安区"}}
    sim.set("environment/sh-env", latency_ms=10_000)  # hangs far beyond the timeout
    for _ in range(2):
        problem = await world.channel.post(world.url("air-quality"), json=air, expect=503)
        assert problem["code"] == "provider_timeout"
    air_guard, outages_guard = f"{world.city.id}/air-quality", f"{world.city.id}/planned-outages"
    ready = await api.get("/readyz")  # the hub stays ready; the provider's state is shown
    assert ready["status"] == "ready"
    assert ready["connectors"][air_guard]["breaker"] == "open"
    assert ready["connectors"][air_guard]["provider"] == "environment/sh-env"
    reached = sim.requests("environment/sh-env")

    started = time.monotonic()
    problem = await world.channel.post(world.url("air-quality"), json=air, expect=503)
    elapsed = time.monotonic() - started
    assert problem["code"] == "circuit_open" and problem["breaker"] == "open"
    last = world.channel.last
    assert last is not None and int(last.headers["retry-after"]) >= 1
    assert sim.requests("environment/sh-env") == reached  # no call left the hub
    assert elapsed < TIMEOUT / 2  # answered without waiting for the timeout

    started = time.monotonic()
    other = await world.channel.post(world.url("planned-outages"), json=air, expect=200)
    assert other["records"] is not None and time.monotonic() - started < TIMEOUT / 2
    assert hub.snapshot()[outages_guard]["breaker"] == "closed"

    sim.set("environment/sh-env", latency_ms=0)  # the provider is back
    deadline = time.monotonic() + 10
    while True:
        response = await world.channel.client.post(
            world.url("air-quality"), json=air, headers=world.channel.headers
        )
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        assert response.json()["code"] == "circuit_open"
        await asyncio.sleep(0.05)  # polling the breaker's half-open moment, bounded above
    assert response.status_code == 200, response.text
    assert hub.snapshot()[air_guard]["breaker"] == "closed"
    metrics = await api.get("/metrics")
    assert f'cityhub_connector_breaker_state{{provider="{air_guard}"}} 0.0' in metrics
    assert 'cityhub_connector_calls_total{operation="air_quality",outcome="rejected"' in metrics


async def test_a_stopped_provider_answers_503_with_retry_after(
    api: Api, db: Database, sim: Sim, hub: ConnectorHub
) -> None:
    world = await query_world(db, api, resilience=POLICY)
    sim.set("environment/sh-env", down=True)
    problem = await world.channel.post(
        world.url("air-quality"), json={"params": {"district": "黄浦区"}}, expect=503
    )
    assert problem["code"] == "provider_unavailable" and problem["provider"] == "environment/sh-env"
    last = world.channel.last
    assert last is not None and last.headers["retry-after"].isdigit()
