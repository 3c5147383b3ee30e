"""`cityhub`: everything an operator does, from the shell."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.table import Table

from cityhub import migrations
from cityhub.cli.appointments import appointments_app
from cityhub.cli.billing import ledger_app, reconcile_app, settle
from cityhub.cli.cities import categories_app, cities_app
from cityhub.cli.connectors import connectors_app, simulate
from cityhub.cli.demo import demo_app
from cityhub.cli.helpers import (
    checked_settings,
    console,
    default_workers,
    out,
    run_with_db,
    serve_app,
)
from cityhub.cli.identity import channels_app, staff_app
from cityhub.cli.jobs import jobs_app
from cityhub.cli.lottery import lottery_app
from cityhub.cli.notices import notices_app
from cityhub.cli.openapi import openapi
from cityhub.cli.requests import requests_app
from cityhub.cli.services import grants_app, services_app
from cityhub.platform.config import Settings
from cityhub.platform.db import Database

app = typer.Typer(help="CityHub: an open, neutral hub for city services.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox of work carried out after commits.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(cities_app, name="cities")
app.add_typer(categories_app, name="categories")
app.add_typer(services_app, name="services")
app.add_typer(grants_app, name="grants")
app.add_typer(staff_app, name="staff")
app.add_typer(channels_app, name="channels")
app.add_typer(outbox_app, name="outbox")
app.add_typer(jobs_app, name="jobs")
app.add_typer(connectors_app, name="connectors")
app.command("simulate")(simulate)
app.add_typer(demo_app, name="demo")
app.add_typer(lottery_app, name="lottery")
app.add_typer(notices_app, name="notices")
app.add_typer(requests_app, name="requests")
app.command("settle")(settle)
app.add_typer(ledger_app, name="ledger")
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(appointments_app, name="appointments")
app.command("openapi")(openapi)


@db_app.command("upgrade")
def db_upgrade(revision: str = "heads") -> None:
    """Apply migrations up to REVISION (default: the newest)."""

    async def work(db: Database, _s: Settings) -> str | None:
        await migrations.upgrade(db, revision)
        return await migrations.current(db)

    console.print(f"database at revision {run_with_db(work)}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and whether it is the newest."""

    async def work(db: Database, _s: Settings) -> str | None:
        return await migrations.current(db)

    at, want = run_with_db(work), migrations.head()
    out.print(f"{at} ({'current' if at == want else f'behind: code wants {want}'})")
    if at != want:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="overrides CITYHUB_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="overrides CITYHUB_PORT")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="server processes sharing the port [default: one per core]"),
    ] = None,
) -> None:
    """Serve the API, the portal and the console (in one process per core unless told)."""
    settings = checked_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    serve_app(settings, workers=workers or default_workers())


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="carry out what is due, then stop")] = False,
    jobs: Annotated[
        bool | None,
        typer.Option(help="run the recurring jobs too [default: yes; with --once: no]"),
    ] = None,
) -> None:
    """Run the outbox dispatcher and the recurring jobs of every city (several workers may
    run at once on PostgreSQL: each event and each job run is taken by one)."""
    from cityhub.identity.pii import scrub
    from cityhub.platform import worker as running

    async def work(db: Database, settings: Settings) -> None:
        wanted = (not once) if jobs is None else jobs
        await running.run(db, settings, once=once, jobs=wanted, mask=scrub)

    run_with_db(work)


@outbox_app.command("status")
def outbox_status() -> None:
    """Count pending and dead outbox events; the lag is the oldest due event's wait in seconds."""
    from cityhub.outbox import admin as outbox_admin

    async def work(db: Database, _s: Settings) -> outbox_admin.OutboxStats:
        async with db.unit_of_work() as session:
            return await outbox_admin.stats(session=session)

    current = run_with_db(work)
    out.print_json(json.dumps({**current.counts, "lag_seconds": round(current.lag_seconds, 3)}))


@outbox_app.command("wait")
def outbox_wait(
    timeout: Annotated[float, typer.Option(min=0, help="give up after this many seconds")] = 30,
) -> None:
    """Wait until the running workers have carried out every event due now (a deploy script,
    or a walkthrough, that needs the effects); exit 1 on timeout."""
    import time

    from cityhub.outbox import admin as outbox_admin

    async def work(db: Database, _s: Settings) -> int:
        deadline = time.monotonic() + timeout
        while True:
            async with db.unit_of_work() as session:
                due = await outbox_admin.due_count(session=session)
            if not due or time.monotonic() >= deadline:
                return due
            await asyncio.sleep(0.2)

    left = run_with_db(work)
    if left:
        console.print(
            f"[red]{left} event(s) still due after {timeout:g} s: is a worker running?[/red]"
        )
        raise typer.Exit(1)
    console.print("nothing due: the workers are done")


@outbox_app.command("retry")
def outbox_retry(
    event_ids: Annotated[
        list[str] | None, typer.Argument(help="event ids; none: every dead one")
    ] = None,
) -> None:
    """Give dead events a fresh round of attempts (after fixing what made them fail)."""
    from cityhub.outbox import admin as outbox_admin

    async def work(db: Database, _s: Settings) -> int:
        async with db.unit_of_work() as session:
            return await outbox_admin.requeue(session=session, event_ids=event_ids or None)

    console.print(f"{run_with_db(work)} dead event(s) requeued")


@outbox_app.command("prune")
def outbox_prune(
    days: Annotated[int, typer.Option(min=0, help="keep events done in the last DAYS days")] = 7,
) -> None:
    """Delete events carried out more than DAYS days ago (in batches, one transaction each)."""
    import datetime as dt

    from cityhub.outbox import admin as outbox_admin
    from cityhub.platform.db import utcnow

    async def work(db: Database, _s: Settings) -> int:
        before, total = utcnow() - dt.timedelta(days=days), 0
        while True:
            async with db.unit_of_work() as session:
                deleted = await outbox_admin.prune(session=session, before=before)
            total += deleted
            if not deleted:
                return total

    console.print(f"{run_with_db(work)} done event(s) pruned")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every audit chain; names the first broken entry and exits 1 if any is broken."""
    from cityhub.identity import audit

    async def work(db: Database, _s: Settings) -> list[audit.ChainReport]:
        async with db.unit_of_work() as session:
            return await audit.verify(session=session)

    reports = run_with_db(work)
    table = Table("chain", "entries", "result")
    for report in reports:
        result = (
            "[green]ok[/green]"
            if report.ok
            else f"[red]broken at entry {report.broken_at}: {report.reason}[/red]"
        )
        table.add_row(report.chain, str(report.entries), result)
    out.print(table)
    broken = [r for r in reports if not r.ok]
    if broken:
        first = broken[0]
        out.print(f"audit log BROKEN: chain {first.chain}, entry {first.broken_at}: {first.reason}")
        raise typer.Exit(1)
    out.print(f"audit log ok: {sum(r.entries for r in reports)} entries in {len(reports)} chains")
