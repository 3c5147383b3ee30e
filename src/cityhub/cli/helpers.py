"""What every `cityhub` command shares: the consoles, the settings, running work on the database,
serving the app, and turning a domain error into a message."""

from __future__ import annotations

import asyncio
import ctypes
import getpass
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from cityhub.identity import audit
from cityhub.platform.config import InsecureConfiguration, Settings, get_settings
from cityhub.platform.db import Database, database_for
from cityhub.platform.errors import CityHubError

console = Console(stderr=True)
out = Console()
T = TypeVar("T")


def checked_settings() -> Settings:
    """The configured settings, refusing an unsafe production start (exit code 2)."""
    settings = get_settings()
    try:
        settings.check_safe()
    except InsecureConfiguration as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    return settings


def run_with_db(work: Callable[[Database, Settings], Awaitable[T]]) -> T:
    """Run `work` with the configured database, closing it afterwards."""
    settings = checked_settings()

    async def main() -> T:
        db = database_for(settings)
        try:
            return await work(db, settings)
        finally:
            await db.dispose()

    return asyncio.run(main())


def default_workers() -> int:
    """How many server processes `cityhub serve` runs unless told: one per core."""
    return max(1, os.cpu_count() or 1)


def serve_app(settings: Settings, *, workers: int = 1) -> None:
    """Run the hub's HTTP server (with the embedded outbox worker unless switched off): in this
    process, or in `workers` processes sharing the port, whose Prometheus figures are added
    up across them (multiprocess mode, in `PROMETHEUS_MULTIPROC_DIR`)."""
    import uvicorn

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        # The app believes X-Forwarded-For from CITYHUB_TRUSTED_PROXIES only (see
        # platform/clients.py); uvicorn's own handling would believe 127.0.0.1 as well.
        "proxy_headers": False,
        "server_header": False,
    }
    if workers <= 1:
        from cityhub.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    # Each worker process builds its app from the environment: say there what was chosen here.
    os.environ["CITYHUB_HOST"], os.environ["CITYHUB_PORT"] = settings.host, str(settings.port)
    os.environ[_SUPERVISOR_PID] = str(os.getpid())
    with multiprocess_metrics():
        uvicorn.run("cityhub.cli.helpers:worker_app", factory=True, workers=workers, **options)


_SUPERVISOR_PID = "CITYHUB_SERVE_SUPERVISOR_PID"


def worker_app() -> Any:
    """The app of one of `serve`'s worker processes. A worker ends with its supervisor even
    when that is killed outright (SIGKILL, the OOM killer): an orphan would keep the port and
    go on taking outbox events nobody watches (Linux: PR_SET_PDEATHSIG)."""
    from cityhub.app import create_app

    supervisor = int(os.environ.get(_SUPERVISOR_PID, "0"))
    if sys.platform.startswith("linux") and supervisor:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != supervisor:  # it died before the line above
            os._exit(1)
    return create_app()


@contextmanager
def multiprocess_metrics() -> Iterator[Path]:
    """The folder where the server processes keep their Prometheus figures: the operator's
    `PROMETHEUS_MULTIPROC_DIR` (emptied: figures of an earlier run must not count), else a
    fresh one removed afterwards. Set before the workers start, so that they all use it."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="cityhub-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


def cli_actor() -> audit.Actor:
    """Who the audit log names for a change made from the shell: the CLI and the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return audit.Actor(type="operator", id=f"cli:{user}"[:80], name=f"cityhub CLI ({user})")


def run_domain(call: Callable[[], Any]) -> Any:
    """Run a command, turning a domain error into a one-line message and exit code 1."""
    try:
        return call()
    except CityHubError as exc:
        console.print(f"[red]{exc.detail or exc.title}[/red]")
        raise typer.Exit(1) from None
