"""Test helpers for the outbox: a webhook receiver, a hub subprocess, waiting on conditions."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import func, select
from typer.testing import CliRunner

from cityhub import outbox, webhooks
from cityhub.cli import app as cli
from cityhub.outbox import OutboxEvent, OutboxHandled
from cityhub.outbox.usage import UsageDaily
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings, get_settings
from cityhub.platform.db import Database
from tests.helpers import move_past


async def eventually(
    condition: Callable[[], Any | Awaitable[Any]],
    *,
    timeout: float = 10.0,
    what: str | Callable[[], str] = "the condition",
    interval: float = 0.02,
) -> Any:
    """Poll `condition` (sync or async) until it is truthy; fail once `timeout` has passed.

    `what` names the condition in the failure (a callable: worked out when it fails).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {said}")
        await asyncio.sleep(interval)


@dataclass
class Delivery:
    """One request the receiver got."""

    event_id: str
    headers: dict[str, str]
    body: bytes
    answered: int
    signed: bool


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A hub killed mid-request leaves a broken connection behind: expected, not news.
        pass


@dataclass
class Receiver:
    """A channel's webhook endpoint on 127.0.0.1: records every request, answers as scripted.

    `answers` is consumed front first (then 200); `delay` makes every answer slow; `secret`
    checks each request's signature the way a channel would.
    """

    secret: str = ""
    delay: float = 0.0
    answers: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handle(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay:
                    time.sleep(receiver.delay)  # the channel is slow to answer
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.deliveries.append(
                        Delivery(
                            event_id=self.headers.get("CityHub-Event-Id", ""),
                            headers=dict(self.headers.items()),
                            body=body,
                            answered=status,
                            signed=webhooks.verify_signature(
                                receiver.secret, body, self.headers.get("CityHub-Signature", "")
                            ),
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handle)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        """Where the channel's webhooks go."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def ids(self) -> Counter[str]:
        """How many times each event id was received."""
        with self._lock:
            return Counter(d.event_id for d in self.deliveries)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


async def add_events(
    db: Database, n: int, *, topic: str, city_id: int, **payload: int
) -> list[str]:
    """Commit `n` events of a topic for a city; their ids."""
    async with db.unit_of_work() as session:
        events = [
            await outbox.enqueue(session=session, topic=topic, city_id=city_id, payload=payload)
            for _ in range(n)
        ]
    return [e.event_id for e in events]


async def drain(db: Database, settings: Settings) -> None:
    """Carry out every due outbox event with the hub's own handlers (the biller and hospital
    calls, the webhooks, the notices)."""
    dispatcher = outbox.Dispatcher(db, settings, registry=outbox.load_handlers())
    try:
        await dispatcher.drain()
    finally:
        await dispatcher.close()


async def make_due(db: Database, clock: Clock) -> None:
    """Time passes: the hub's clock moves to when the last pending event is due (instead of
    waiting out its backoff), so every pending event is."""
    async with db.unit_of_work() as session:
        latest = await session.scalar(
            select(func.max(OutboxEvent.available_at)).where(OutboxEvent.status == "pending")
        )
    if latest is not None:
        move_past(clock, latest)


async def event(db: Database, event_id: str) -> OutboxEvent:
    """An event as the database has it now."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(OutboxEvent).where(OutboxEvent.event_id == event_id))
    assert found is not None
    return found


async def statuses(db: Database) -> dict[str, int]:
    """Events by status."""
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)
        )
        return {status: int(n) for status, n in rows.all()}


async def handled(db: Database) -> Counter[tuple[str, str]]:
    """How many times each (event, handler) is recorded as finished."""
    async with db.unit_of_work() as session:
        rows = (await session.execute(select(OutboxHandled.event_id, OutboxHandled.handler))).all()
    return Counter((e, h) for e, h in rows)


async def usage_total(db: Database, metric: str) -> int:
    """Every city's count of a metric, all days together."""
    async with db.unit_of_work() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(UsageDaily.count), 0)).where(UsageDaily.metric == metric)
        )
    return int(total or 0)


async def invoke(database_url: str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    """Run `cityhub ARGS` in this process against a database (`stdin`: what it reads); its
    exit code and output."""

    def run() -> tuple[int, str]:
        saved = {k: os.environ.get(k) for k in ("CITYHUB_ENV", "CITYHUB_DATABASE_URL")}
        os.environ.update(CITYHUB_ENV="test", CITYHUB_DATABASE_URL=database_url)
        get_settings.cache_clear()  # the command reads the environment set above
        try:
            result = CliRunner().invoke(cli, list(args), input=stdin)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()
        return result.exit_code, result.output

    # A command runs an event loop of its own, so it needs a thread without one.
    return await asyncio.to_thread(run)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Hub:
    """The hub as a real process (`python -m cityhub ...`) on a test database."""

    def __init__(self, database_url: str, folder: Path, **env: str) -> None:
        self.log = folder / "hub.log"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
        self.env.update(
            CITYHUB_ENV="test",
            CITYHUB_DATABASE_URL=database_url,
            CITYHUB_DATA=str(folder / "data"),
            CITYHUB_PORT=str(self.port),
            CITYHUB_LOG_LEVEL="INFO",
            CITYHUB_CONNECTOR_ALLOW_HOSTS="127.0.0.1",  # the tests' own receivers
            PYTHONUNBUFFERED="1",
        )
        self.env.update(env)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        """Start `cityhub ARGS` (its output goes to `self.log`)."""
        assert self.process is None, "already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cityhub", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code."""
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 10 s); the exit code, None if it was not running."""
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
        self.process = None
        return code

    def output(self) -> str:
        """The last lines the hub wrote (for failure messages)."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
