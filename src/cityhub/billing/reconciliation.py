"""Reconciliation of a day against the billers' statements and the channels' statements.

Against a biller (its statement comes from its connector): the payments the hub saw the
biller accept that day, and the reversals it expects (full refunds told to the biller, and
the biller's own reversals), line by line against the statement's payments and reversals.

Against a channel (its uploaded CSV): the payments it confirmed that day (what it charged its
users) and what it had to give back that day (refunds, and payments the biller refused).

Each line is `matched`, `missing_at_hub`, `missing_at_biller` / `missing_at_channel`,
`amount_mismatch` or `duplicate_at_channel` / `duplicate_at_biller`; a biller whose statement
could not be had is one `statement_unavailable` line. A run replaces the day's earlier report.
As with bill look-ups, the billers are asked with no transaction open (`billers`, `fetch`),
and the report is written afterwards (`reconcile`).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import (
    ChannelStatement,
    Payment,
    PaymentStatus,
    ReconciliationItem,
    Refund,
    RefundSource,
)
from cityhub.billing.schemas import ReconciliationLine, ReconciliationRead
from cityhub.billing.settlement import day_bounds, party_names
from cityhub.billing.statements import latest
from cityhub.cities import service as cities
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Biller, Statement
from cityhub.identity import audit
from cityhub.platform import csvsafe
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError
from cityhub.platform.progress import NO_PROGRESS, Progress
from cityhub.platform.uow import between_transactions

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

DONE = (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED)
CSV_COLUMNS = (
    "day",
    "party",
    "party_name",
    "line",
    "result",
    "payment_id",
    "hub_fen",
    "their_fen",
    "currency",
    "detail",
)


@dataclass(frozen=True)
class BillerToCheck:
    """A biller service with payments in the city, and its connector."""

    service: Service
    biller: Biller | None
    problem: str | None = None


async def billers(*, session: AsyncSession, hub: ConnectorHub, city: City) -> list[BillerToCheck]:
    """The city's bill services that took payments, with their connectors."""
    used = (
        select(Payment.service_id)
        .where(Payment.city_id == city.id, Payment.sandbox.is_(False))  # live billers only
        .distinct()
    )
    found = []
    for service_id in sorted(await session.scalars(used)):
        service = await cities.get_service(session=session, city_id=city.id, service_id=service_id)
        assert service is not None  # a payment's service is never deleted (a foreign key)
        try:
            found.append(BillerToCheck(service, await hub.biller(session=session, service=service)))
        except CityHubError as exc:
            found.append(BillerToCheck(service, None, exc.detail or exc.title))
    return found


async def fetch(
    checks: list[BillerToCheck], day: dt.date, progress: Progress = NO_PROGRESS
) -> dict[int, Statement | str]:
    """Each biller's statement of the day, or why it could not be had (no transaction open)."""
    statements: dict[int, Statement | str] = {}
    progress(total=len(checks), what=f"asking {len(checks)} biller(s) for statements")
    for check in checks:
        progress(advance=1)
        if check.biller is None:
            statements[check.service.id] = check.problem or "no connector"
            continue
        try:
            statements[check.service.id] = await check.biller.statement(day=day)
        except CityHubError as exc:
            statements[check.service.id] = f"{exc.code}: {exc.detail or exc.title}"
    return statements


async def reconcile(
    *, session: AsyncSession, city: City, day: dt.date, statements: dict[int, Statement | str]
) -> list[ReconciliationItem]:
    """Compare the day with the billers' statements and the channels' uploaded ones; the
    report replaces any earlier one of the day."""
    start, end = day_bounds(day, city.timezone)
    items: list[ReconciliationItem] = []
    for service_id, statement in sorted(statements.items()):
        items += await _against_biller(session, city, day, service_id, statement, start, end)
    for uploaded in await latest(session=session, city_id=city.id, day=day):
        items += await _against_channel(session, city, day, uploaded, start, end)
    await session.execute(
        delete(ReconciliationItem).where(
            ReconciliationItem.city_id == city.id, ReconciliationItem.day == day
        )
    )
    now = utcnow()
    for item in items:
        item.created_at = now
    session.add_all(items)
    await session.flush()
    return items


def _compare(
    city: City,
    day: dt.date,
    party: str,
    party_id: int,
    line: str,
    hub: dict[str, int],
    theirs: list[tuple[str, int]],
    currency: str,
    known: dict[str, str],
    duplicates: bool = True,
) -> list[ReconciliationItem]:
    """One item per payment on either side (and one per extra line, if duplicates count)."""

    def item(
        ref: str, result: str, hub_fen: int | None, their_fen: int | None, detail: str = ""
    ) -> ReconciliationItem:
        return ReconciliationItem(
            city_id=city.id,
            day=day,
            party=party,
            party_id=party_id,
            line=line,
            result=result,
            payment_ref=ref[:80],
            hub_fen=hub_fen,
            their_fen=their_fen,
            currency=currency,
            detail=detail[:200],
        )

    items = []
    seen: dict[str, int] = {}
    for ref, fen in theirs:
        if ref in seen and duplicates:
            items.append(item(ref, f"duplicate_at_{party}", hub.get(ref), fen, "listed again"))
            continue
        seen[ref] = seen.get(ref, 0) + fen
    for ref in sorted(set(hub) | set(seen)):
        ours, their = hub.get(ref), seen.get(ref)
        if ours is None:
            why = known.get(ref)
            items.append(
                item(ref, "missing_at_hub", None, their, f"the hub has it {why}" if why else "")
            )
        elif their is None:
            items.append(item(ref, f"missing_at_{party}", ours, None))
        elif ours != their:
            items.append(item(ref, "amount_mismatch", ours, their, f"differs by {their - ours}"))
        else:
            items.append(item(ref, "matched", ours, their))
    return items


async def _known(session: AsyncSession, city: City, refs: set[str]) -> dict[str, str]:
    """How the hub knows payments that are not where a statement says they are."""
    if not refs:
        return {}
    rows = await session.execute(
        select(Payment.public_id, Payment.status, Payment.confirmed_at, Payment.completed_at).where(
            Payment.city_id == city.id, Payment.public_id.in_(refs)
        )
    )
    return {
        ref: f"as {PaymentStatus(status).value}"
        + (f", completed {completed:%Y-%m-%d %H:%M} UTC" if completed else "")
        for ref, status, _confirmed, completed in rows.all()
    }


async def _against_biller(
    session: AsyncSession,
    city: City,
    day: dt.date,
    service_id: int,
    statement: Statement | str,
    start: dt.datetime,
    end: dt.datetime,
) -> list[ReconciliationItem]:
    if isinstance(statement, str):
        return [
            ReconciliationItem(
                city_id=city.id,
                day=day,
                party="biller",
                party_id=service_id,
                line="statement",
                result="statement_unavailable",
                payment_ref="-",
                currency=city.currency,
                detail=statement[:200],
            )
        ]
    paid = await session.execute(
        select(Payment.public_id, Payment.amount_fen).where(
            Payment.city_id == city.id,
            Payment.service_id == service_id,
            Payment.sandbox.is_(False),  # the sandbox's payments never reached this biller
            Payment.status.in_(DONE),
            Payment.completed_at >= start,
            Payment.completed_at < end,
        )
    )
    hub_paid = {ref: int(fen) for ref, fen in paid.all()}
    reversed_ = await session.execute(
        select(Payment.public_id, Payment.amount_fen)
        .join(Refund, Refund.payment_id == Payment.id)
        .where(
            Refund.city_id == city.id,
            Payment.service_id == service_id,
            Payment.sandbox.is_(False),
            Refund.created_at >= start,
            Refund.created_at < end,
            (Refund.source == RefundSource.BILLER_REVERSAL) | (Refund.biller_status != "none"),
        )
    )
    hub_reversed = {ref: int(fen) for ref, fen in reversed_.all()}
    theirs = [(ln.payment_id, ln.amount_fen) for ln in statement.lines if ln.kind == "payment"]
    undone = [(ln.payment_id, ln.amount_fen) for ln in statement.lines if ln.kind == "reversal"]
    known = await _known(session, city, {r for r, _ in theirs + undone} - set(hub_paid))
    args = (city, day, "biller", service_id)
    return _compare(*args, "payment", hub_paid, theirs, city.currency, known) + _compare(
        *args, "reversal", hub_reversed, undone, city.currency, known
    )


async def _against_channel(
    session: AsyncSession,
    city: City,
    day: dt.date,
    uploaded: ChannelStatement,
    start: dt.datetime,
    end: dt.datetime,
) -> list[ReconciliationItem]:
    channel_id = uploaded.channel_id
    charged = await session.execute(
        select(Payment.public_id, Payment.total_fen).where(
            Payment.city_id == city.id,
            Payment.channel_id == channel_id,
            Payment.confirmed_at >= start,
            Payment.confirmed_at < end,
        )
    )
    hub_charged = {ref: int(fen) for ref, fen in charged.all()}
    refunds = await session.execute(
        select(Payment.public_id, func.sum(Refund.total_fen))
        .join(Refund, Refund.payment_id == Payment.id)
        .where(
            Refund.city_id == city.id,
            Payment.channel_id == channel_id,
            Refund.created_at >= start,
            Refund.created_at < end,
        )
        .group_by(Payment.public_id)
    )
    hub_back: Counter[str] = Counter({ref: int(fen) for ref, fen in refunds.all()})
    failed = await session.execute(
        select(Payment.public_id, Payment.total_fen).where(
            Payment.city_id == city.id,
            Payment.channel_id == channel_id,
            Payment.failed_at >= start,
            Payment.failed_at < end,
        )
    )
    hub_back.update({ref: int(fen) for ref, fen in failed.all()})
    lines = uploaded.lines.get("lines", [])
    theirs = [(ln["payment_id"], ln["amount_fen"]) for ln in lines if ln["kind"] == "charge"]
    back = [(ln["payment_id"], ln["amount_fen"]) for ln in lines if ln["kind"] == "refund"]
    known = await _known(session, city, {r for r, _ in theirs} - set(hub_charged))
    args = (city, day, "channel", channel_id)
    return _compare(*args, "payment", hub_charged, theirs, city.currency, known) + _compare(
        *args, "refund", dict(hub_back), back, city.currency, {}, duplicates=False
    )


async def report(*, session: AsyncSession, city: City, day: dt.date) -> ReconciliationRead:
    """The day's latest reconciliation, as the console and the CLI show it."""
    rows = (
        await session.scalars(
            select(ReconciliationItem)
            .where(ReconciliationItem.city_id == city.id, ReconciliationItem.day == day)
            .order_by(ReconciliationItem.id)
        )
    ).all()
    names = await party_names(session=session, city_id=city.id)
    items = [
        ReconciliationLine(
            party=r.party,
            party_name=names.get((r.party, r.party_id), str(r.party_id)),
            line=r.line,
            result=r.result,
            payment_id=r.payment_ref,
            hub_fen=r.hub_fen,
            their_fen=r.their_fen,
            currency=r.currency,
            detail=r.detail,
        )
        for r in rows
    ]
    counts = Counter(i.result for i in items)
    return ReconciliationRead(
        city=city.slug, day=day, counts=dict(sorted(counts.items())), items=items
    )


def to_csv(found: ReconciliationRead) -> str:
    """The report as CSV, one line per item."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(CSV_COLUMNS)
    for i in found.items:
        writer.writerow(
            [
                found.day.isoformat(),
                i.party,
                i.party_name,
                i.line,
                i.result,
                i.payment_id,
                "" if i.hub_fen is None else i.hub_fen,
                "" if i.their_fen is None else i.their_fen,
                i.currency,
                i.detail,
            ]
        )
    return out.getvalue()


async def run(
    *, session: AsyncSession, hub: ConnectorHub, actor: audit.Actor, city: City, day: dt.date
) -> ReconciliationRead:
    """Reconcile the day, asked by a staff member: the billers are asked for their statements
    with no transaction open (the session's is committed first), then the report is written
    and the run goes on the audit log."""
    checks = await billers(session=session, hub=hub, city=city)
    async with between_transactions(session):
        found = await fetch(checks, day)
    await reconcile(session=session, city=city, day=day, statements=found)
    result = await report(session=session, city=city, day=day)
    await audit.append(
        session=session,
        actor=actor,
        action="reconciliation.run",
        object_type="reconciliation",
        object_id=day.isoformat(),
        city_id=city.id,
        details={"counts": result.counts},
    )
    return result
