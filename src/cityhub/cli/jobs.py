"""`cityhub jobs list|set|run`: the recurring jobs `cityhub worker` runs by itself."""

from __future__ import annotations

import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

jobs_app = typer.Typer(help="Recurring jobs (run by `cityhub worker`).", no_args_is_help=True)
CityOption = Annotated[
    str | None, typer.Option("--city", help="the city's slug (none: the hub's jobs)")
]


@jobs_app.command("list")
def jobs_list(
    city: CityOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for scripts")] = False,
) -> None:
    """Each job of a city (or the hub): schedule, last run and its outcome, next run."""
    from cityhub.cities import jobs_admin
    from cityhub.cities import service as cities
    from cityhub.cities.jobs_api import JobRead
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.platform.db import utcnow
    from cityhub.platform.scheduler import load_jobs

    async def work(db: Database, settings: Settings) -> list[dict[str, Any]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city) if city else None
            zone = ZoneInfo(found.timezone if found else settings.hub_timezone)
            shown = await jobs_admin.status_of(
                session=session, jobs=load_jobs(), city=found, zone=zone, now=utcnow()
            )
            return [JobRead.of(s).model_dump(mode="json") for s in shown]

    rows = run_domain(lambda: run_with_db(work))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("job", "schedule", "last run", "outcome", "next run")
    for r in rows:
        last = r["last_run"]
        table.add_row(
            r["job"],
            r["cron"] if r["enabled"] else "off",
            f"{last['due_at']} {last['status']}" if last else "-",
            (last["error"] or json.dumps(last["outcome"], ensure_ascii=False)) if last else "",
            r["next_run_at"] or "-",
        )
    out.print(table)


@jobs_app.command("set")
def jobs_set(
    job: str,
    city: CityOption = None,
    cron: Annotated[str | None, typer.Option(help="five-field cron, in the city's time")] = None,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="on or off")] = None,
    default: Annotated[bool, typer.Option(help="back to the job's own schedule")] = False,
) -> None:
    """Give a city its own schedule of a job, or switch the job off or on there."""
    from cityhub.cities import jobs_admin
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, console, run_domain, run_with_db
    from cityhub.platform.errors import Unprocessable
    from cityhub.platform.scheduler import load_jobs

    async def work(db: Database, _s: Settings) -> str:
        found = load_jobs().get_or_raise(job)
        async with db.unit_of_work() as session:
            place = await cities.get_city_or_raise(session=session, slug=city) if city else None
            if found.per_city != (place is not None):
                raise Unprocessable(
                    f"{job} is a {'city' if found.per_city else 'hub'} job", field="city"
                )
            setting = await jobs_admin.configure(
                session=session, actor=cli_actor(), job=found, city=place, cron=cron,
                enabled=enable, default=default,
            )  # fmt: skip
            return f"{setting.cron or found.cron} ({'on' if setting.enabled else 'off'})"

    console.print(f"{job} {city or 'hub'}: {run_domain(lambda: run_with_db(work))}")


@jobs_app.command("run")
def jobs_run(job: str, city: CityOption = None) -> None:
    """Run a job now, once (as if it were due now), and print what it did."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.platform.db import utcnow
    from cityhub.platform.scheduler import Planned, Scheduler, load_jobs

    async def work(db: Database, settings: Settings) -> Any:
        found = load_jobs().get_or_raise(job)
        async with db.unit_of_work() as session:
            place = await cities.get_city_or_raise(session=session, slug=city) if city else None
        zone = ZoneInfo(place.timezone if place else settings.hub_timezone)
        return await Scheduler(db, settings).run(Planned(found, place, utcnow(), zone))

    finished = run_domain(lambda: run_with_db(work))
    if finished is None:
        out.print("another worker is running it right now")
        return
    out.print_json(json.dumps({"status": finished.status, "outcome": finished.outcome,
                               "error": finished.error}, ensure_ascii=False))  # fmt: skip
    if finished.status != "done":
        raise typer.Exit(1)
