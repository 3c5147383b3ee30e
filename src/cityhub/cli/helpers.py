"""What every `cityhub` command shares: the consoles, the settings, running work on the database,
serving the app, and turning a domain error into a message."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
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


def serve_app(settings: Settings) -> None:
    """Run the hub's HTTP server in this process (with the embedded outbox worker)."""
    import uvicorn

    from cityhub.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        # The app believes X-Forwarded-For from CITYHUB_TRUSTED_PROXIES only (see
        # platform/clients.py); uvicorn's own handling would believe 127.0.0.1 as well.
        proxy_headers=False,
        server_header=False,
    )


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
