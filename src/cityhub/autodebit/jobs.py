"""The auto-debits' recurring jobs: look the active agreements' accounts up at their billers
(new bills are planned, and their residents told), and ask the channels to debit the bills
whose notice period is over (and count the requests nobody answered as failed attempts)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import select

from cityhub.autodebit import runs
from cityhub.autodebit.models import Agreement, AutoDebit, AutoDebitAgreementStatus
from cityhub.billing import bills
from cityhub.cities import service as cities
from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.errors import CityHubError
from cityhub.platform.scheduler import JobContext, job

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.platform.db import Database

log = structlog.get_logger("cityhub.autodebit")


async def scan(*, db: Database, hub: ConnectorHub, city: City, now: dt.datetime) -> int:
    """Every active agreement's account asked at its biller (no transaction open meanwhile);
    each new unpaid bill planned once; how many were planned now."""
    prepared = []
    async with db.unit_of_work() as session:
        agreements = await session.scalars(
            select(Agreement)
            .where(
                Agreement.city_id == city.id, Agreement.status == AutoDebitAgreementStatus.ACTIVE
            )
            .order_by(Agreement.id)
        )
        for agreement in agreements.all():
            service = await cities.get_service(
                session=session, city_id=city.id, service_id=agreement.service_id
            )
            assert service is not None  # a foreign key
            try:
                ready = await bills.prepare(
                    session=session,
                    hub=hub,
                    city=city,
                    channel_id=agreement.channel_id,
                    code=service.code,
                    values={"account": agreement.account},
                )
            except CityHubError as exc:  # a grant withdrawn, a service suspended: next time
                log.warning("autodebit_not_looked_up", agreement=agreement.public_id, code=exc.code)
                continue
            prepared.append((agreement.id, ready))
    planned = 0
    for agreement_id, ready in prepared:
        try:
            found = await bills.ask(prepared=ready)
        except CityHubError as exc:  # the biller is down or knows no such account: next time
            log.warning("autodebit_biller_no_answer", agreement=agreement_id, code=exc.code)
            continue
        async with db.unit_of_work() as session:
            kept = await bills.keep(
                session=session, city_id=city.id, service_id=ready.service.id, bills=found
            )
            made = await runs.plan(
                session=session,
                agreement_id=agreement_id,
                city_id=city.id,
                found=kept,
                terms=ready.terms,
                now=now,
            )
            planned += len(made)
    return planned


async def debit(*, db: Database, city: City, now: dt.datetime) -> dict[str, int]:
    """Ask the channels to debit every due bill (each in a transaction of its own), and count
    each request whose quote ran out unanswered as a failed attempt."""
    async with db.unit_of_work() as session:
        due = await runs.due(session=session, city_id=city.id, now=now)
        stale = await runs.unanswered(session=session, city_id=city.id, now=now)
    requested = 0
    for debit_id in due:
        async with db.unit_of_work() as session:
            requested += await runs.request(session=session, city=city, debit_id=debit_id, now=now)
    for debit_id in stale:
        async with db.unit_of_work() as session:
            row = await session.get(AutoDebit, debit_id)
            if row is None or row.answer_by is None or row.answer_by > now:
                continue
            try:
                await runs.fail_attempt(
                    session=session, debit=row, code=runs.NO_ANSWER, detail="the quote ran out"
                )
            except CityHubError:  # answered in the meantime
                continue
    return {"requested": requested, "unanswered": len(stale)}


@job(
    "autodebit-scan",
    cron="0 * * * *",
    description="look up the auto-debit agreements' accounts and plan their new bills",
)
async def scan_job(ctx: JobContext) -> dict[str, Any]:
    """Each bill is planned once however often this runs."""
    hub = ConnectorHub(ctx.settings)
    try:
        planned = await scan(db=ctx.db, hub=hub, city=ctx.require_city(), now=ctx.due_at)
    finally:
        await hub.aclose()
    return {"planned": planned}


@job(
    "autodebit-debit",
    cron="*/5 * * * *",
    description="ask channels to debit the bills whose auto-debit notice period is over",
)
async def debit_job(ctx: JobContext) -> dict[str, Any]:
    """Each due bill is requested once per attempt however often this runs."""
    return await debit(db=ctx.db, city=ctx.require_city(), now=ctx.due_at)
