"""The hub as the benches run it: `cityhub serve` in its own process, on a database URL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from support import free_port
from support.procstat import tree_cpu


class Hub:
    """A `cityhub serve` process (no embedded outbox worker unless told), stopped on exit."""

    def __init__(self, url: str, folder: Path, name: str = "hub", **env: str) -> None:
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
        )
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Hub:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cityhub", "serve"], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 60
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
