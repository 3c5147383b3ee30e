"""The money's recurring jobs: roll the ledger's entries up into the balances every minute;
each night, settle and reconcile the day before."""

from __future__ import annotations

from typing import Any

from cityhub.billing import ledger, reconciliation, settlement
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity import audit
from cityhub.platform.scheduler import JobContext, job


@job(
    "roll-up-ledger",
    cron="* * * * *",
    description="add the ledger's new entries to their accounts' stored balances",
)
async def roll_up_ledger(ctx: JobContext) -> dict[str, Any]:
    """The city's entries not rolled up yet go into the balances (off the payments' path)."""
    async with ctx.db.unit_of_work() as session:
        entries = await ledger.roll_up(session=session, city_id=ctx.require_city().id)
    return {"entries": entries}


@job(
    "settle",
    cron="30 1 * * *",
    catch_up=7,
    description="settle the day before, per biller and per channel",
)
async def settle(ctx: JobContext) -> dict[str, Any]:
    """The day's settlement batches (again for a day: the same batches)."""
    city, day = ctx.require_city(), ctx.day_before
    async with ctx.db.unit_of_work() as session:
        made = await settlement.run(session=session, actor=audit.Actor.system(), city=city, day=day)
    return {"day": day.isoformat(), "batches": len(made), "net_fen": sum(b.net_fen for b in made)}


@job(
    "reconcile",
    cron="0 3 * * *",
    catch_up=7,
    description="reconcile the day before against the billers' and channels' statements",
)
async def reconcile(ctx: JobContext) -> dict[str, Any]:
    """The day's reconciliation; the billers are asked with no transaction open."""
    city, day = ctx.require_city(), ctx.day_before
    hub = ConnectorHub(ctx.settings)
    try:
        async with ctx.db.unit_of_work() as session:
            checks = await reconciliation.billers(session=session, hub=hub, city=city)
        statements = await reconciliation.fetch(checks, day)
        async with ctx.db.unit_of_work() as session:
            await reconciliation.reconcile(
                session=session, city=city, day=day, statements=statements
            )
            report = await reconciliation.report(session=session, city=city, day=day)
    finally:
        await hub.aclose()
    return {"day": day.isoformat(), "counts": report.counts}
