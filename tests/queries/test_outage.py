"""With one provider failing, its calls answer 503 without reaching it once its breaker is
open, the breaker lets a trial through after its reset time (the hub's clock, moved by the
test) and closes when the provider is back, and other providers go on answering."""

from __future__ import annotations

from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.client import Api
from tests.queries.factories import query_world
from tests.simulators.fixtures import Sim

TIMEOUT = 1.0
POLICY = {"timeout": TIMEOUT, "retries": 0, "failure_threshold": 2, "reset_after": 1.0}


async def test_a_failing_provider_fails_fast_once_open_recovers_and_harms_no_other(
    api: Api, db: Database, sim: Sim, hub: ConnectorHub, hub_clock: Clock
) -> None:
    hub.memo.ttl = 0  # no cache: every call goes to the provider
    hub_clock.set(hub_clock.now())  # time passes only when the test says so
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

    problem = await world.channel.post(world.url("air-quality"), json=air, expect=503)
    assert problem["code"] == "circuit_open" and problem["breaker"] == "open"
    last = world.channel.last
    assert last is not None and int(last.headers["retry-after"]) >= 1
    assert sim.requests("environment/sh-env") == reached  # no call left the hub: no wait

    other = await world.channel.post(world.url("planned-outages"), json=air, expect=200)
    assert other["records"] is not None  # another provider of the city still answers
    assert hub.snapshot()[outages_guard]["breaker"] == "closed"

    sim.set("environment/sh-env", latency_ms=0)  # the provider is back...
    still = await world.channel.post(world.url("air-quality"), json=air, expect=503)
    assert still["code"] == "circuit_open"  # ...but the breaker waits out its reset time
    assert sim.requests("environment/sh-env") == reached
    hub_clock.advance(seconds=POLICY["reset_after"])
    answered = await world.channel.post(world.url("air-quality"), json=air, expect=200)
    assert answered["records"] is not None
    assert sim.requests("environment/sh-env") == reached + 1  # the one trial call
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
