"""`cityhub demo`: migrate, load the demo world once, start the simulators, serve."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from cityhub import migrations
from cityhub.demo import loader, world
from cityhub.identity.pii import Vault
from cityhub.platform.config import (
    DEFAULT_SECRET_KEY,
    SIMULATOR_PORT_OFFSET,
    Settings,
    get_settings,
)
from cityhub.platform.db import database_for
from cityhub.platform.progress import NO_PROGRESS, Progress, bar

if TYPE_CHECKING:
    from cityhub.simulators import RunningServer

demo_app = typer.Typer(help="The demo world: twelve cities, channels, staff and residents.")
console = Console()


def _demo_settings(simulator_port: int | None = None) -> Settings:
    settings = get_settings()
    if settings.is_production:
        Console(stderr=True).print("[red]the demo does not run with CITYHUB_ENV=production[/red]")
        raise typer.Exit(2)
    if settings.env == "demo" and settings.secret_key == DEFAULT_SECRET_KEY:
        Console(stderr=True).print(
            f"[yellow]{settings.data} was made with the keys every demo shares; delete it (or "
            "set CITYHUB_SECRET_KEY, CITYHUB_DATA_KEY, CITYHUB_HASH_KEY) for keys of its own"
            "[/yellow]"
        )
    # The demo starts its own simulator on this machine; its services reach it there, so
    # point the connectors at it and allow that host explicitly.
    port = simulator_port or settings.simulators_port
    settings.simulator_port, settings.simulator_url = port, f"http://127.0.0.1:{port}"
    hosts = {h.strip() for h in settings.connector_allow_hosts.split(",") if h.strip()}
    settings.connector_allow_hosts = ",".join(sorted(hosts | {f"127.0.0.1:{port}"}))
    return settings


async def prepare(
    settings: Settings,
    residents: int = loader.DEFAULT_RESIDENTS,
    progress: Progress = NO_PROGRESS,
) -> loader.LoadReport:
    """Migrate the database and load the demo world if it is not there yet."""
    db = database_for(settings)
    try:
        progress(what="migrating the database")
        await migrations.upgrade(db)
        async with db.unit_of_work() as session:
            return await loader.load(
                session=session,
                vault=Vault.from_settings(settings),
                residents=residents,
                progress=progress,
            )
    finally:
        await db.dispose()


async def sync_hospitals(settings: Settings) -> tuple[int, list[str]]:
    """Fill the demo hospitals' coming week from the simulated hospital systems (at every
    start: a sync adds the days that came into view and changes only what changed). The
    number of sessions synced, and the hospitals that could not be reached."""
    from cityhub.appointments import sync as schedule_sync

    db = database_for(settings)
    sessions, failed = 0, []
    try:
        for city in world.CITIES:
            if not city.hospitals:
                continue
            try:
                results = await schedule_sync.sync_city(db, settings, city=city.slug, days=7)
            except Exception as exc:  # one unreachable hospital must not stop the demo
                failed.append(f"{city.slug}: {exc}")
                continue
            sessions += sum(r.sessions for r in results)
    finally:
        await db.dispose()
    return sessions, failed


def _sync_in_background(settings: Settings) -> None:
    started = time.monotonic()
    synced, failed = asyncio.run(sync_hospitals(settings))
    console.print(
        f"synced {synced} hospital sessions for the coming week in "
        f"{time.monotonic() - started:.1f} s"
    )
    for problem in failed:
        console.print(f"[yellow]hospital sync failed: {problem}[/yellow]")


def _print_welcome(settings: Settings) -> None:
    creds = loader.credentials()
    base = settings.base_url
    console.print(f"\n[bold]CityHub demo[/bold] at [link={base}/]{base}/[/link]")
    for label, path in (("API docs", "/docs"), ("console", "/console"), ("health", "/healthz")):
        console.print(f"  {label:9} {base}{path}")
    console.print(f"  simulator {settings.simulators_url}")
    table = Table("channel", "client_id", "client_secret", "cities", title="Channels")
    for c in creds["channels"]:
        table.add_row(c["name"], c["client_id"], c["client_secret"], str(len(c["cities"])))
    console.print(table)
    table = Table("city", "username", "password", "role", title="Some staff logins")
    for s in creds["staff"][:4]:
        table.add_row(s["city"] or "(all)", s["username"], s["password"], s["role"])
    console.print(table)
    first = next(r for r in loader.sample_residents() if r["plates"])
    plate = first["plates"][0]
    body = json.dumps({"user_id": first["user_id"], "params": {"plate": plate}}, ensure_ascii=False)
    console.print(
        f"A verified demo resident of channel {first['channel']}: user_id {first['user_id']}, "
        f"id {first['id_number']}, plate {plate}. With a token of ch_{first['channel']}, try\n"
        f"  curl -H 'Authorization: Bearer '$TOKEN -H 'Content-Type: application/json' "
        f"{base}/v1/cities/shanghai/services/traffic-violations/queries -d '{body}'",
        soft_wrap=True,
    )
    console.print("Every login: [bold]cityhub demo credentials[/bold] (add --json for scripts)\n")


def _start_simulator(settings: Settings) -> RunningServer:
    from cityhub.simulators import serve_in_background

    port = settings.simulators_port
    try:
        return serve_in_background(port=port, seed=loader.SEED)
    except OSError as exc:
        Console(stderr=True).print(
            f"[red]the provider simulator cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
            "it follows CITYHUB_PORT (+ 100): set CITYHUB_PORT, or CITYHUB_SIMULATOR_PORT, "
            "to a free port[/red]"
        )
        raise typer.Exit(1) from None


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    serve: Annotated[bool, typer.Option(help="serve after loading")] = True,
    residents: Annotated[int, typer.Option(help="residents to create")] = loader.DEFAULT_RESIDENTS,
    simulator_port: Annotated[
        int | None,
        typer.Option(
            envvar="CITYHUB_SIMULATOR_PORT",
            help="port of the provider simulator started beside the hub "
            f"[default: CITYHUB_PORT + {SIMULATOR_PORT_OFFSET}]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Migrate, load the demo world if it is not there, start the simulators and serve."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _demo_settings(simulator_port)
    started = time.monotonic()
    with bar("the demo world") as progress:
        report = asyncio.run(prepare(settings, residents, progress))
    took = time.monotonic() - started
    if report.loaded:
        console.print(
            f"loaded the demo world in {took:.1f} s: {report.cities} cities, "
            f"{report.services} services, {report.grants} grants, {report.channels} channels, "
            f"{report.staff} staff, {report.residents} residents, "
            f"{report.lottery_rounds} open lottery rounds"
        )
    else:
        url = make_url(settings.url)
        where = url.database if url.drivername.startswith("sqlite") else url.render_as_string()
        console.print(f"the demo world is already in {where} (ready in {took:.1f} s)")
    if not serve:
        _print_welcome(settings)
        return
    from cityhub.cli.helpers import serve_app

    simulator = _start_simulator(settings)
    # The hospitals' week is synced beside the starting hub, so a restart stays quick.
    threading.Thread(target=_sync_in_background, args=(settings,), daemon=True).start()
    _print_welcome(settings)
    try:
        # Ctrl-C: uvicorn shuts down gracefully, then raises it again; that is a normal end.
        with contextlib.suppress(KeyboardInterrupt):
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
    table = Table("channel", "user_id", "id number", "verified", "plates", title="Some residents")
    for r in loader.sample_residents():
        table.add_row(
            r["channel"], r["user_id"], r["id_number"], str(r["verified"]), " ".join(r["plates"])
        )
    console.print(table)


@demo_app.command("people")
def demo_people(
    city: Annotated[str, typer.Option(help="whose utility accounts to show")] = "shanghai",
    count: Annotated[int, typer.Option(min=1, max=100, help="how many people")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Demo people: name, phone (sign in to the portal with it), identity number, plates, the
    channels' user ids, and their accounts at the city's water, power and gas companies."""
    from cityhub.demo import people

    try:
        rows = people.rows(people.city_or_raise(city), count)
    except ValueError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Demo people and their accounts in {city}")
    keys = [k for k in rows[0] if k not in ("index", "city")]
    for key in keys:
        table.add_column(key.replace("_", " "), no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(row[k]) for k in keys))
    wide = Console(width=max(console.width, 200))  # piped output too shows whole numbers
    wide.print(table)
    wide.print(
        "Sign in to the portal with a phone above (the code is shown in demo mode); pay the "
        "water bill of its account. Every person has accounts in every demo city: --city. "
        "To verify, give the name and identity number (the city's population registry holds "
        "these people); a person already known is linked only by the code sent to the phone "
        "on their record, shown in demo mode too."
    )


def _cell(value: object) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)
