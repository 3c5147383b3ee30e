"""Schemathesis, with its checks, against a hub over HTTP: every answer is documented (status,
content type, schema, headers), no input makes a 500, auth is enforced as described.

One check is left out: `positive_data_acceptance` expects every schema-valid request to
succeed, and the hub refuses with a documented 422 what JSON Schema cannot say (a cursor it
did not hand out, an identity number's checksum, a bill that is not this account's, ...)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators import serve_app_in_background
from tests.billing.factories import pay_world
from tests.client import Api
from tests.simulators.fixtures import Sim

pytestmark = pytest.mark.slow


@pytest.fixture
def hub(settings: Settings) -> Iterator[str]:
    running = serve_app_in_background(create_app(settings), port=0, lifespan="on")
    try:
        yield running.url
    finally:
        running.stop()


async def test_schemathesis_finds_nothing_in_v1(
    db: Database, api: Api, sim: Sim, hub: str, tmp_path: Path
) -> None:
    world = await pay_world(db, api, sim)
    token = (await world.channel.current_headers())["Authorization"]
    # The description is built at its first request (about 2 s of CPU, far more on a busy
    # machine) and kept: built here, so that schemathesis' 10 s to load it measure nothing.
    async with httpx.AsyncClient(timeout=120) as client:
        assert (await client.get(f"{hub}/openapi.json")).status_code == 200
    tool = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run(
        [str(tool), "run", f"{hub}/openapi.json", "-H", f"Authorization: {token}",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--phases", "examples,fuzzing", "-n", "5", "--workers", "1", "--seed", "1",
         "--generation-deterministic", "--include-path-regex", "^/v1/"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    tested = re.search(r"Tested:\s+(\d+)", done.stdout)
    assert tested and int(tested.group(1)) >= 150, done.stdout[-3000:]  # every /v1 operation
