"""`cityhub notices remind-bills | dead-letters | stats`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

notices_app = typer.Typer(
    help="Government notices: reminders, dead letters, figures.", no_args_is_help=True
)
CityOption = Annotated[str, typer.Option("--city", help="the city's slug")]


@notices_app.command("remind-bills")
def remind_bills(
    city: CityOption,
    days: Annotated[int, typer.Option("--days", min=0, max=60, help="bills due in N days")] = 3,
) -> None:
    """Remind residents of unpaid bills due in N days (each reminder is sent once, however
    often this runs; schedule it daily)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.notices import hooks

    async def work(db: Database, settings: Settings) -> int:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            return await hooks.remind_bills(
                session=session, settings=settings, city=found, days=days
            )

    sent = run_domain(lambda: run_with_db(work))
    out.print(f"{sent} bill reminder(s) sent")


@notices_app.command("dead-letters")
def dead_letters(
    city: CityOption,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 50,
) -> None:
    """Deliveries whose every route failed, newest first, as JSON lines."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.notices import delivery

    async def work(db: Database, _s: Settings) -> list[dict[str, Any]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            rows = await delivery.dead_letters(session=session, city_id=found.id, limit=limit)
            return [
                {
                    "delivery": d.id,
                    "notice": public_id,
                    "recipient": d.recipient_id,
                    "route": d.route,
                    "attempts": d.attempts,
                    "error": d.last_error,
                }
                for d, public_id in rows
            ]

    for row in run_domain(lambda: run_with_db(work)):
        typer.echo(json.dumps(row, ensure_ascii=False))


@notices_app.command("stats")
def stats(city: CityOption, notice: Annotated[str, typer.Argument(help="the notice's id")]) -> None:
    """A notice's figures: recipients, delivered, opened, acted, amount paid (JSON)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.notices import service

    async def work(db: Database, _s: Settings) -> dict[str, int]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            row = await service.get_notice_or_raise(
                session=session, city_id=found.id, public_id=notice
            )
            return await service.stats(session=session, notice=row)

    typer.echo(json.dumps(run_domain(lambda: run_with_db(work))))
