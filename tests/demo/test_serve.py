"""`cityhub demo` as a real process: a second start serves the hub and the simulators beside it,
a demo channel's queries reach the simulators, and the hospitals' week is synced from them."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from cityhub.demo import loader
from cityhub.platform.db import Database
from cityhub.simulators import World
from tests.client import Api
from tests.identity.factories import vault
from tests.outbox_helpers import Hub, eventually, free_port


async def test_a_second_demo_start_serves_queries_through_its_simulator(
    db: Database, tmp_path: Path
) -> None:
    async with db.unit_of_work() as session:  # the first start's work, done here
        await loader.load(session=session, vault=vault(), residents=40)
    hub = Hub(db.url, tmp_path, CITYHUB_SIMULATOR_PORT=str(free_port()))
    hub.start("demo")
    base = f"http://127.0.0.1:{hub.port}"
    try:
        async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=10) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(
                healthy, timeout=30, what=lambda: f"the demo to serve:\n{hub.output()}"
            )
            api = Api(client)
            cities = await api.get("/v1/cities?limit=100")
            assert len(cities["items"]) == 12
            creds = loader.credentials()
            resident = next(r for r in creds["residents"] if r["verified"] and r["plates"])
            login = next(
                c for c in creds["channels"] if c["client_id"] == f"ch_{resident['channel']}"
            )
            channel = await api.as_channel(login["client_id"], login["client_secret"])
            listed = await channel.get("/v1/cities/shanghai/services?limit=100")
            assert "traffic-violations" in {s["code"] for s in listed["items"]}
            plate = resident["plates"][0]
            answer = await channel.post(
                "/v1/cities/shanghai/services/traffic-violations/queries",
                json={"user_id": resident["user_id"], "params": {"plate": plate}},
                expect=200,
            )
            # A bill look-up reaches the simulated water company through the connectors.
            simulated = World(loader.SEED)
            account = simulated.account_of("water", "shanghai-water", simulated.people[0])
            found = await channel.get(
                "/v1/cities/shanghai/services/water-bill/bills", params={"account": account}
            )
            assert found["bills"] and all(b["account"] == account for b in found["bills"])

            # The hospitals' coming week is synced from the simulated hospitals beside the hub.
            async def sessions() -> bool:
                found = await channel.get("/v1/cities/shanghai/appointments/sessions")
                return bool(found["items"])

            await eventually(
                sessions, timeout=60, what=lambda: f"hospital sessions:\n{hub.output()}"
            )
        assert answer["records"] and all(r["plate"] == plate for r in answer["records"])
        assert "the demo world is already in" in hub.log.read_text(errors="replace")
    finally:
        assert hub.process is not None
        hub.process.send_signal(signal.SIGINT)  # Ctrl-C, as a person ends the demo
        try:
            code = hub.wait(timeout=15)
        finally:
            hub.stop()  # nothing to do once it ended by itself
    assert code == 0, hub.output()
    assert "Traceback" not in hub.output()
