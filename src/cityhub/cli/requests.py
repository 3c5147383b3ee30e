"""`cityhub requests types | holidays | escalate | api-key`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

requests_app = typer.Typer(
    help="Service requests (12345): types, the calendar, escalation, Open311 keys.",
    no_args_is_help=True,
)
CityOption = Annotated[str, typer.Option("--city", help="the city's slug")]


@requests_app.command("types")
def list_types(city: CityOption) -> None:
    """The city's request types as JSON lines (code, department, deadline, attributes)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.requests import catalogue

    async def work(db: Database, _s: Settings) -> list[dict[str, Any]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            departments = {
                d.id: d.code
                for d in await catalogue.get_all_departments(session=session, city_id=found.id)
            }
            return [
                {
                    "code": t.code,
                    "name": t.names.get("en"),
                    "department": departments[t.department_id],
                    "sla_hours": t.sla_hours,
                    "attributes": [a["code"] for a in t.attributes],
                    "active": t.active,
                }
                for t in await catalogue.get_all_types(
                    session=session, city_id=found.id, active_only=False
                )
            ]

    for row in run_domain(lambda: run_with_db(work)):
        out.print(json.dumps(row, ensure_ascii=False), soft_wrap=True)


@requests_app.command("holidays")
def holidays(
    city: CityOption,
    add: Annotated[list[str] | None, typer.Option("--add", help="a day off (YYYY-MM-DD)")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="no longer a day off")
    ] = None,
    workday: Annotated[
        list[str] | None, typer.Option("--workday", help="a weekend day worked (make-up day)")
    ] = None,
) -> None:
    """Change the city's holiday calendar (deadlines count working hours only); prints it."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, out, run_domain, run_with_db
    from cityhub.requests import catalogue
    from cityhub.requests.schemas import RequestSettingsUpdate

    async def work(db: Database, _s: Settings) -> dict[str, list[str]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            rules = await catalogue.settings_of(session=session, city_id=found.id)
            days = sorted((set(rules.holidays) | set(add or [])) - set(remove or []))
            extra = sorted(set(rules.extra_workdays) | set(workday or []))
            rules = await catalogue.update_settings(
                session=session,
                actor=cli_actor(),
                city=found,
                settings_in=RequestSettingsUpdate(holidays=days, extra_workdays=extra),
            )
            return {"holidays": rules.holidays, "extra_workdays": rules.extra_workdays}

    out.print(json.dumps(run_domain(lambda: run_with_db(work))), soft_wrap=True)


@requests_app.command("escalate")
def escalate(city: CityOption) -> None:
    """Flag requests nearing their deadline and escalate overdue ones now (the worker does
    this every 15 minutes; each request is escalated once)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.platform.db import utcnow
    from cityhub.requests import sla

    async def work(db: Database, _s: Settings) -> dict[str, int]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            return await sla.escalate(session=session, city=found, now=utcnow())

    done = run_domain(lambda: run_with_db(work))
    out.print(f"{done['warned']} nearing their deadline, {done['escalated']} escalated")


@requests_app.command("api-key")
def api_key(
    city: CityOption,
    channel: Annotated[str, typer.Option("--channel", help="the channel's slug")],
) -> None:
    """Issue an Open311 api_key to a channel the city granted its request service (printed
    once; only its hash is kept)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, out, run_domain, run_with_db
    from cityhub.requests import keys

    async def work(db: Database, _s: Settings) -> str:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            _row, key, _channel = await keys.issue(
                session=session, actor=cli_actor(), city=found, channel_slug=channel
            )
            return key

    out.print(run_domain(lambda: run_with_db(work)))
