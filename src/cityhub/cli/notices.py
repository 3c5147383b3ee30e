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


def _values(pairs: list[str] | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r}: write name=value")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


@notices_app.command("broadcast")
def broadcast(
    city: CityOption,
    account: Annotated[str, typer.Option(help="the government account's code")],
    template: Annotated[str, typer.Option(help="the account's template")],
    value: Annotated[
        list[str] | None, typer.Option("--value", "-v", help="name=value, repeatable")
    ] = None,
    topic: Annotated[str | None, typer.Option(help="only the followers of this topic")] = None,
    wait: Annotated[bool, typer.Option(help="follow the fan-out to the end")] = True,
    timeout: Annotated[float, typer.Option(help="stop following after this many seconds")] = 600,
) -> None:
    """Send a notice to an account's followers; the workers write it into their inboxes (in
    chunks) and this follows them with a progress bar."""
    import asyncio
    import time

    from sqlalchemy import func, select

    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, out, run_domain, run_with_db
    from cityhub.notices.models import Notice
    from cityhub.notices.schemas import NoticeCreate
    from cityhub.notices.sending import audience_of, create
    from cityhub.platform.progress import bar

    notice_in = NoticeCreate(account=account, template=template, values=_values(value), topic=topic)

    async def work(db: Database, _s: Settings) -> tuple[str, int, str]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            notice = await create(
                session=session, city=found, actor=cli_actor(), notice_in=notice_in
            )
            audience = audience_of(notice).distinct().subquery()
            size = int(await session.scalar(select(func.count()).select_from(audience)) or 0)
        if not wait:
            return notice.public_id, 0, notice.status
        deadline, written = time.monotonic() + timeout, 0
        with bar(f"notice {notice.public_id} to {size} follower(s)") as progress:
            progress(total=size)
            while True:
                async with db.unit_of_work() as session:
                    now = await session.get(Notice, notice.id)
                assert now is not None
                progress(advance=now.recipients - written)
                written = now.recipients
                if now.status != "fanning" or time.monotonic() > deadline:
                    return notice.public_id, written, now.status
                await asyncio.sleep(0.5)

    public_id, written, status = run_domain(lambda: run_with_db(work))
    if not wait:
        out.print(f"notice {public_id} queued: the workers write it into the inboxes")
        return
    if status == "fanning":
        out.print(f"notice {public_id}: {written} inbox(es) so far; is a worker running?")
        raise typer.Exit(1)
    out.print(f"notice {public_id} sent to {written} inbox(es); the pushes follow from the outbox")
