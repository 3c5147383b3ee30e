"""`cityhub demo`: migrate, load the demo world once, start the simulators, serve."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from cityhub import migrations
from cityhub.config import Settings, get_settings
from cityhub.db import database_for
from cityhub.demo import loader
from cityhub.identity.pii import Vault

demo_app = typer.Typer(help="The demo world: twelve cities, channels, staff and residents.")
console = Console()


def _demo_settings() -> Settings:
    settings = get_settings()
    if settings.is_production:
        Console(stderr=True).print("[red]the demo does not run with CITYHUB_ENV=production[/red]")
        raise typer.Exit(2)
    # The demo's services reach the simulators on this machine: allow that host explicitly.
    sim = urlsplit(settings.simulator_url).netloc
    hosts = {h.strip() for h in settings.connector_allow_hosts.split(",") if h.strip()}
    settings.connector_allow_hosts = ",".join(sorted(hosts | {sim}))
    return settings


async def prepare(
    settings: Settings, residents: int = loader.DEFAULT_RESIDENTS
) -> loader.LoadReport:
    """Migrate the database and load the demo world if it is not there yet."""
    db = database_for(settings)
    try:
        await migrations.upgrade(db)
        async with db.unit_of_work() as session:
            return await loader.load(
                session=session, vault=Vault.from_settings(settings), residents=residents
            )
    finally:
        await db.dispose()


def _print_welcome(settings: Settings) -> None:
    creds = loader.credentials()
    base = settings.base_url
    console.print(f"\n[bold]CityHub demo[/bold] at [link={base}/]{base}/[/link]")
    for label, path in (("API docs", "/docs"), ("console", "/console"), ("health", "/healthz")):
        console.print(f"  {label:9} {base}{path}")
    console.print(f"  simulator {settings.simulator_url}")
    table = Table("channel", "client_id", "client_secret", "cities", title="Channels")
    for c in creds["channels"]:
        table.add_row(c["name"], c["client_id"], c["client_secret"], str(len(c["cities"])))
    console.print(table)
    table = Table("city", "username", "password", "role", title="Some staff logins")
    for s in creds["staff"][:4]:
        table.add_row(s["city"] or "(all)", s["username"], s["password"], s["role"])
    console.print(table)
    first = creds["residents"][0]
    console.print(
        f"A verified demo resident: channel {first['channel']}, user_id {first['user_id']} "
        f"(try POST /v1/cities/shanghai/services/traffic-violations/queries)."
    )
    console.print("Every login: [bold]cityhub demo credentials[/bold] (add --json for scripts)\n")


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option(help="serve after loading")] = True,
    residents: Annotated[int, typer.Option(help="residents to create")] = loader.DEFAULT_RESIDENTS,
) -> None:
    """Migrate, load the demo world if it is not there, start the simulators and serve."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _demo_settings()
    started = time.monotonic()
    report = asyncio.run(prepare(settings, residents))
    took = time.monotonic() - started
    if report.loaded:
        console.print(
            f"loaded the demo world in {took:.1f} s: {report.cities} cities, "
            f"{report.services} services, {report.grants} grants, {report.channels} channels, "
            f"{report.staff} staff, {report.residents} residents"
        )
    else:
        console.print(f"the demo world is already in {settings.data} (ready in {took:.1f} s)")
    _print_welcome(settings)
    if not serve:
        return
    from cityhub.cli import serve_app
    from cityhub.simulators import serve_in_background

    sim_port = urlsplit(settings.simulator_url).port or 8100
    simulator = serve_in_background(port=sim_port, seed=loader.SEED)
    try:
        serve_app(settings)
    finally:
        simulator.stop()


@demo_app.command("credentials")
def credentials(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Print the demo world's logins."""
    creds = loader.credentials()
    if as_json:
        typer.echo(json.dumps(creds, ensure_ascii=False, indent=2))
        return
    table = Table("channel", "client_id", "client_secret", "cities")
    for c in creds["channels"]:
        table.add_row(c["name"], c["client_id"], c["client_secret"], ", ".join(c["cities"]))
    console.print(table)
    table = Table("city", "username", "password", "role")
    for s in creds["staff"]:
        table.add_row(s["city"] or "(all)", s["username"], s["password"], s["role"])
    console.print(table)
