"""The hub as the benches run it: `cityhub serve` in its own process, on a database URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from support import free_port
from support.pgwire import CountingProxy
from support.procstat import ServerCpu, tree_cpu


class Hub:
    """A `cityhub serve` process (no embedded outbox worker unless told), stopped on exit."""

    def __init__(
        self, url: str, folder: Path, name: str = "hub", *, workers: int = 1, **env: str
    ) -> None:
        self.workers = workers  # `cityhub serve --workers`: the benches say how many they ran
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"{name}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        self.env.update(
            CITYHUB_ENV="test",
            CITYHUB_DATABASE_URL=url,
            CITYHUB_DATA=str(folder / "data"),
            CITYHUB_PORT=str(self.port),
            CITYHUB_EMBEDDED_WORKER="false",
            CITYHUB_LOG_LEVEL="WARNING",
            # A long run outlives the default 15-minute token; renewing it is not what is measured.
            CITYHUB_TOKEN_TTL_SECONDS="7200",
            # A bench drives one channel as hard as it can: what it measures is not the limits.
            CITYHUB_RATE_LIMITS="false",
        )
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Hub:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cityhub", "serve", "--workers", str(self.workers)],
                env=self.env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 120  # a busy shared machine imports slowly
        with httpx.Client(base_url=self.base_url, timeout=5, trust_env=False) as client:
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the hub did not become ready; see {self.log}")
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def cpu(self) -> float:
        """CPU seconds the hub's processes have used so far."""
        assert self.process is not None
        return tree_cpu(self.process.pid)

    def token(self, client_id: str, secret: str) -> str:
        """A channel's access token."""
        answer = httpx.post(
            f"{self.base_url}/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id,
                  "client_secret": secret},
            trust_env=False,
        )  # fmt: skip
        answer.raise_for_status()
        return str(answer.json()["access_token"])


@contextmanager
def counted(url: str, folder: Path) -> Iterator[tuple[Hub, CountingProxy]]:
    """A hub whose database connections go through a counting proxy: the counting run."""
    target = make_url(url)
    with CountingProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        through = target.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        with Hub(through, folder, "hub-counted") as hub:
            yield hub, proxy


@dataclass
class Timed:
    """A timed run's result, with the CPU the hub's processes and its backends spent on it."""

    result: Any
    hub_cpu: float
    server_cpu: float | None  # None: the server's backends are not on this machine


def timed(hub: Hub, database: str, work: Callable[[], Any]) -> Timed:
    """Run `work` while measuring the CPU of the hub and of the database's backends."""
    before = hub.cpu()
    with ServerCpu(database) as server:
        result = work()
    return Timed(result, hub.cpu() - before, server.seconds if server.seen else None)
