"""`cityhub appointments sync|no-shows|release`: schedules from the hospitals' systems, the end
of the day, and holds past their time (the outbox does the latter by itself; this is the
sweep for an operator)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from cityhub.platform.clock import today_in
from cityhub.platform.config import Settings
from cityhub.platform.db import Database

appointments_app = typer.Typer(
    help="Hospital appointments: sync schedules, no-shows, expired holds.", no_args_is_help=True
)
CityOption = Annotated[str, typer.Option("--city", help="the city's slug")]


@appointments_app.command("sync")
def sync(
    city: CityOption,
    hospital: Annotated[
        str | None, typer.Option("--hospital", help="one hospital's service code (default: all)")
    ] = None,
    days: Annotated[int, typer.Option(help="days ahead to sync", min=1, max=31)] = 7,
) -> None:
    """Sync hospitals' sessions from their own systems (run it from cron for "on a schedule")."""
    from cityhub.appointments import sync as schedule_sync
    from cityhub.appointments.schemas import SyncRead
    from cityhub.cli.helpers import out, run_domain, run_with_db

    async def work(db: Database, settings: Settings) -> list[SyncRead]:
        return await schedule_sync.sync_city(db, settings, city=city, hospital=hospital, days=days)

    for r in run_domain(lambda: run_with_db(work)):
        out.print(
            f"{r.service}: {r.departments} departments, {r.practitioners} practitioners, "
            f"{r.sessions} sessions, {r.slots_added} slots added, {r.slots_updated} updated"
        )


@appointments_app.command("no-shows")
def no_shows(
    city: CityOption,
    date: Annotated[
        dt.datetime | None,
        typer.Option("--date", formats=["%Y-%m-%d"], help="the day that ended (default: today)"),
    ] = None,
) -> None:
    """At the end of a day: booked appointments not checked in become no-shows."""
    from cityhub.appointments import desk
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db

    async def work(db: Database, _s: Settings) -> tuple[dt.date, int, int]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            day = date.date() if date else today_in(found.timezone)
            count, blocked = await desk.mark_no_shows(session=session, city=found, day=day)
            return day, count, blocked

    day, count, blocked = run_domain(lambda: run_with_db(work))
    out.print(f"{day}: {count} no-show(s), {blocked} patient(s) blocked")


@appointments_app.command("release")
def release(city: CityOption) -> None:
    """Let go every hold whose fee was not paid in time (the outbox does this on its own)."""
    from cityhub.appointments.jobs import release_expired
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db

    async def work(db: Database, _s: Settings) -> int:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            return await release_expired(session=session, city=found)

    out.print(f"{run_domain(lambda: run_with_db(work))} hold(s) released")
