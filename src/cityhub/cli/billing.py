"""`cityhub settle`, `cityhub ledger check`, `cityhub reconcile run|report`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from cityhub.billing import ledger, reconciliation, settlement
from cityhub.billing.schemas import BatchRead, ReconciliationRead
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.money import major

ledger_app = typer.Typer(help="The double-entry ledger of bill payments.", no_args_is_help=True)
reconcile_app = typer.Typer(
    help="Reconcile a day against the billers' and channels' statements.", no_args_is_help=True
)

CityOption = Annotated[str, typer.Option("--city", help="the city's slug")]
DateOption = Annotated[
    dt.datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="the day, in the city's time")
]


def settle(city: CityOption, date: DateOption) -> None:
    """Make a day's settlement batches per biller and per channel (again: the same batches)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.platform.progress import bar

    async def work(db: Database, _s: Settings) -> list[BatchRead]:
        with bar(f"settling {city} {date.date()}") as progress:
            async with db.unit_of_work() as session:
                found = await cities.get_city_or_raise(session=session, slug=city)
                made = await settlement.settle(
                    session=session, city=found, day=date.date(), progress=progress
                )
                names = await settlement.party_names(session=session, city_id=found.id)
                return [settlement.batch_read(b, names) for b in made]

    batches = run_domain(lambda: run_with_db(work))
    for batch in batches:
        pays = "hub pays" if batch.net_fen >= 0 else "pays the hub"
        out.print(
            f"{batch.day} {batch.party:7} {batch.party_name:24} {pays} "
            f"{major(abs(batch.net_fen), batch.currency)} ({batch.entries} entries)"
        )
    out.print(settle_summary(batches, date.date()), soft_wrap=True)


def settle_summary(batches: list[BatchRead], day: dt.date) -> str:
    """One line: how many batches, what the hub pays the billers and the channels pay it."""
    by_currency: dict[str, list[int]] = {}
    for batch in batches:
        sums = by_currency.setdefault(batch.currency, [0, 0])
        sums[0 if batch.party == "biller" else 1] += batch.net_fen
    money = "; ".join(
        f"billers are paid {major(billers, c)}, channels pay {major(-channels, c)}"
        for c, (billers, channels) in sorted(by_currency.items())
    )
    return f"{len(batches)} batch(es) for {day}" + (f": {money}" if money else "")


@ledger_app.command("check")
def ledger_check(
    city: Annotated[str | None, typer.Option("--city", help="one city (default: all)")] = None,
) -> None:
    """Verify every posting sums to zero and every balance equals its entries; exit 1 if not."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db

    async def work(db: Database, _s: Settings) -> ledger.LedgerReport:
        async with db.unit_of_work() as session:
            city_id = None
            if city:
                city_id = (await cities.get_city_or_raise(session=session, slug=city)).id
            return await ledger.check(session=session, city_id=city_id)

    report = run_domain(lambda: run_with_db(work))
    for problem in report.problems():
        out.print(f"BROKEN: {problem}")
    summary = f"{report.postings} postings, {report.entries} entries, {report.accounts} accounts"
    if not report.ok:
        out.print(f"ledger BROKEN: {len(report.problems())} problem(s) in {summary}")
        raise typer.Exit(1)
    out.print(f"ledger ok: {summary}")


@reconcile_app.command("run")
def reconcile_run(city: CityOption, date: DateOption) -> None:
    """Reconcile the day now (the billers are asked for their statements) and show the counts."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.connectors.registry import ConnectorHub
    from cityhub.platform.progress import bar

    async def work(db: Database, settings: Settings) -> ReconciliationRead:
        hub = ConnectorHub(settings)
        try:
            with bar(f"reconciling {city} {date.date()}") as progress:
                async with db.unit_of_work() as session:
                    found = await cities.get_city_or_raise(session=session, slug=city)
                    checks = await reconciliation.billers(session=session, hub=hub, city=found)
                statements = await reconciliation.fetch(checks, date.date(), progress)
                progress(what="comparing the day's payments line by line")
                async with db.unit_of_work() as session:
                    await reconciliation.reconcile(
                        session=session, city=found, day=date.date(), statements=statements
                    )
                    return await reconciliation.report(session=session, city=found, day=date.date())
        finally:
            await hub.aclose()

    result = run_domain(lambda: run_with_db(work))
    out.print_json(json.dumps({"day": result.day.isoformat(), "counts": result.counts}))
    wrong = sum(n for k, n in result.counts.items() if k != "matched")
    out.print(
        f"{result.day}: {result.counts.get('matched', 0)} line(s) matched, {wrong} to look at"
        + (" (cityhub reconcile report)" if wrong else "")
    )


@reconcile_app.command("report")
def reconcile_report(
    city: CityOption,
    date: DateOption,
    csv: Annotated[Path | None, typer.Option("--csv", help="write the report here as CSV")] = None,
    all_lines: Annotated[bool, typer.Option("--all", help="show matched lines too")] = False,
) -> None:
    """Show the day's latest reconciliation (discrepancies only unless --all), or export it."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db

    async def work(db: Database, _s: Settings) -> ReconciliationRead:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            return await reconciliation.report(session=session, city=found, day=date.date())

    result = run_domain(lambda: run_with_db(work))
    if csv is not None:
        csv.write_text(reconciliation.to_csv(result), encoding="utf-8")
        out.print(f"{len(result.items)} line(s) written to {csv}")
        return
    for item in result.items:
        if all_lines or item.result != "matched":
            out.print(
                f"{item.party:7} {item.party_name:20} {item.line:9} {item.result:22} "
                f"{item.payment_id} hub={_amount(item.hub_fen, item.currency)} "
                f"theirs={_amount(item.their_fen, item.currency)} {item.detail}"
            )
    counts = ", ".join(f"{k}: {v}" for k, v in result.counts.items()) or "nothing reconciled"
    out.print(f"{result.day}: {counts}")


def _amount(fen: int | None, currency: str) -> str:
    return "-" if fen is None else major(fen, currency)
