"""Bookings of popular sessions through the hub, against the bare conditional UPDATE.

On a fresh PostgreSQL database (created on the server of `--server`, dropped afterwards):

1. a city, a hospital granted to a channel, `--sessions` popular sessions of `--places` places
   each (4 slots per session), and one verified resident per booking attempt;
2. `cityhub serve` in a subprocess (no embedded outbox worker), driven over real HTTP by
   `--clients` concurrent clients racing `--attempts` bookings (`POST .../bookings` with an
   Idempotency-Key, distinct patients, slots of the popular sessions at random) ->
   attempts/s (each answered 201 booked or 409 slot_full), bookings/s, p50 and p99 of a call;
   the count of bookings must equal the places;
3. in the same run, the bare statement that takes a place (`UPDATE appt_slots SET taken =
   taken + 1 WHERE id = $1 AND taken < capacity`, one transaction each) from as many
   concurrent connections, over a fresh copy of the slots, as many attempts -> attempts/s.

The last line is one JSON object: value = the hub's booking attempts/s, reference = the bare
UPDATE's, ratio = value / reference, target = 0.35 (higher is better).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.* factories

from support import admin, free_port, percentile  # noqa: E402

from cityhub import migrations  # noqa: E402
from cityhub.appointments.models import Booking, Slot  # noqa: E402
from cityhub.platform.db import Database  # noqa: E402

TARGET = 0.35
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def prepare(url: str, sessions: int, places: int, attempts: int) -> dict[str, Any]:
    """Migrate; a city, a hospital, a channel, the popular sessions and the patients."""
    from tests.appointments.factories import tomorrow, verified_users
    from tests.cities.factories import create_city, create_grant
    from tests.connectors.factories import connected_service
    from tests.identity.factories import SECRET, create_channel

    from cityhub.appointments import schedules
    from cityhub.appointments.schemas import SessionCreate
    from cityhub.cities.models import ServiceKind

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        hospital = await connected_service(
            db,
            city=city,
            code="hospital-bench",
            connector="simulator:hospital",
            config={"provider_id": "bench"},
            kind=ServiceKind.APPOINTMENT,
            category="medical",
        )
        login = await create_channel(db, slug="bench-app")
        await create_grant(db, channel=login.channel, service=hospital)
        users = await verified_users(db, login, attempts)
        slots: list[str] = []
        async with db.unit_of_work() as session:
            for n in range(sessions):
                per = places // 4
                made = await schedules.create_session(
                    session=session,
                    city=city,
                    session_in=SessionCreate.model_validate(
                        {
                            "service": hospital.code,
                            "department": f"dept-{n}",
                            "practitioner": f"dr-{n}",
                            "day": tomorrow().isoformat(),
                            "period": "morning",
                            "slots": [
                                {
                                    "start": f"{8 + k // 2:02d}:{30 * (k % 2):02d}",
                                    "end": f"{8 + (k + 1) // 2:02d}:{30 * ((k + 1) % 2):02d}",
                                    "capacity": per,
                                }
                                for k in range(4)
                            ],
                        }
                    ),
                )
                found = await session.scalars(
                    select(Slot.public_id).where(Slot.session_id == made.id)
                )
                slots += list(found.all())
        return {
            "city": city.slug,
            "client_id": login.client_id,
            "secret": SECRET,
            "users": users,
            "slots": slots,
        }
    finally:
        await db.dispose()


async def drive(base: str, world: dict[str, Any], clients: int) -> dict[str, Any]:
    """Race every attempt through the hub over HTTP from `clients` concurrent clients."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60, trust_env=False) as http:
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await http.get("/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start")
            await asyncio.sleep(0.1)
        answer = await http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": world["client_id"],
                "client_secret": world["secret"],
            },
        )
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        url = f"/v1/cities/{world['city']}/appointments/bookings"
        rng = random.Random(7)
        queue = [(u, rng.choice(world["slots"])) for u in world["users"]]
        latencies: list[float] = []
        codes: dict[int, int] = {}

        async def client() -> None:
            while queue:
                user, slot = queue.pop()
                started = time.perf_counter()
                reply = await http.post(
                    url,
                    json={"user_id": user, "slot": slot},
                    headers={**headers, "Idempotency-Key": f"bk-{user}"},
                )
                latencies.append(time.perf_counter() - started)
                codes[reply.status_code] = codes.get(reply.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        elapsed = time.perf_counter() - started
    return {
        "elapsed": elapsed,
        "codes": codes,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


async def bare(url: str, clients: int, attempts: int, sessions: int, places: int) -> float:
    """The statement that takes a place, alone: attempts/s over a fresh copy of the slots."""
    db = Database(url, pool_size=clients)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO appt_slots (city_id, public_id, session_id, starts_at, ends_at,"
                    " capacity, taken) SELECT city_id, 'bare-' || public_id, session_id, starts_at,"
                    " ends_at, capacity, 0 FROM appt_slots"
                )
            )
            ids = list(
                (
                    await conn.scalars(
                        text("SELECT id FROM appt_slots WHERE public_id LIKE 'bare-%'")
                    )
                ).all()
            )
        rng = random.Random(7)
        queue = [rng.choice(ids) for _ in range(attempts)]
        statement = text(
            "UPDATE appt_slots SET taken = taken + 1 WHERE id = :id AND taken < capacity"
        )

        async def client() -> None:
            while queue:
                slot = queue.pop()
                async with db.engine.begin() as conn:
                    await conn.execute(statement, {"id": slot})

        started = time.perf_counter()
        await asyncio.gather(*[client() for _ in range(clients)])
        elapsed = time.perf_counter() - started
        async with db.engine.connect() as conn:
            taken = await conn.scalar(
                text("SELECT sum(taken) FROM appt_slots WHERE public_id LIKE 'bare-%'")
            )
        assert taken == sessions * places, taken
        return attempts / elapsed
    finally:
        await db.dispose()


async def count(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            booked = await session.scalar(select(func.count()).select_from(Booking))
            taken = await session.scalar(
                select(func.sum(Slot.taken)).where(Slot.public_id.not_like("bare-%"))
            )
        return int(booked or 0), int(taken or 0)
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server", default=os.environ.get("CITYHUB_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=10, help="popular sessions")
    parser.add_argument("--places", type=int, default=100, help="places per session")
    parser.add_argument("--attempts", type=int, default=5000)
    args = parser.parse_args()

    name = f"cityhub_bench_booking_{os.getpid()}"
    url = make_url(args.server).set(database=name).render_as_string(False)
    folder = Path(tempfile.mkdtemp(prefix="cityhub-bench-"))
    asyncio.run(admin(args.server, f'CREATE DATABASE "{name}"'))
    hub: subprocess.Popen[bytes] | None = None
    try:
        world = asyncio.run(prepare(url, args.sessions, args.places, args.attempts))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        env.update(
            CITYHUB_ENV="test",
            CITYHUB_DATABASE_URL=url,
            CITYHUB_DATA=str(folder / "data"),
            CITYHUB_PORT=str(port),
            CITYHUB_EMBEDDED_WORKER="false",
            CITYHUB_LOG_LEVEL="WARNING",
        )
        with (folder / "hub.log").open("wb") as out:
            hub = subprocess.Popen(
                [sys.executable, "-m", "cityhub", "serve"], env=env, stdout=out, stderr=out
            )
        measured = asyncio.run(drive(f"http://127.0.0.1:{port}", world, args.clients))
        hub.terminate()
        hub.wait(timeout=20)
        hub = None
        booked, taken = asyncio.run(count(url))
        reference = asyncio.run(bare(url, args.clients, args.attempts, args.sessions, args.places))
    finally:
        if hub is not None:
            hub.kill()
        asyncio.run(admin(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    places = args.sessions * args.places
    value = args.attempts / measured["elapsed"]
    print(
        f"{args.attempts} attempts by {args.clients} clients for {places} places: "
        f"{measured['codes']} in {measured['elapsed']:.1f} s"
    )
    print(
        f"hub: {value:.0f} attempts/s, {booked / measured['elapsed']:.0f} bookings/s, "
        f"p50 {measured['p50'] * 1000:.1f} ms, p99 {measured['p99'] * 1000:.1f} ms"
    )
    print(f"bookings {booked} == places {places}: {booked == places == taken}")
    print(f"bare conditional UPDATE: {reference:.0f} attempts/s")
    if booked != places or taken != places or measured["codes"].get(201) != places:
        raise SystemExit("the count of bookings does not equal the places")
    print(
        json.dumps(
            {
                "name": "booking_attempts_per_second",
                "value": round(value, 1),
                "unit": "attempts/s",
                "reference": round(reference, 1),
                "ratio": round(value / reference, 3),
                "target": TARGET,
                "higher_is_better": True,
            }
        )
    )


if __name__ == "__main__":
    main()
