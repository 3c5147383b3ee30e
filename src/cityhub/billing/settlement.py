"""Settlement: per biller and per channel, what is owed for everything up to the end of a day.

A batch takes the entries of one party's account (`biller:<id>:payable` or
`channel:<id>:receivable`) that no batch has taken yet and that were made before the end of
the day in the city's time, and posts their sum against `hub:settlement` (the money that goes
out to the biller, or comes in from the channel), so that the party's account is back to
what happened after the batch. Taking the entries is one conditional `UPDATE ... WHERE
settlement_batch_id IS NULL`, so no entry is ever paid out twice, and a day is settled once
per party (a unique key): running it again answers the batches it made the first time.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import ledger
from cityhub.billing.models import Entry, LedgerAccount, Posting, SettlementBatch
from cityhub.billing.schemas import BatchRead
from cityhub.billing.service import expire_quotes
from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.platform.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from cityhub.cities.models import City


def day_bounds(day: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The start and end (exclusive) of a calendar day in the city's time, as UTC."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def party_of(code: str) -> tuple[str, int] | None:
    """("biller", service id) or ("channel", channel id) for a settled account; None else."""
    kind, _, rest = code.partition(":")
    number, _, role = rest.partition(":")
    if kind == "biller" and role == "payable":
        return "biller", int(number)
    if kind == "channel" and role == "receivable":
        return "channel", int(number)
    return None


async def settle(
    *, session: AsyncSession, city: City, day: dt.date, progress: Progress = NO_PROGRESS
) -> list[SettlementBatch]:
    """Make the day's batches (or find the ones made before); every party with something
    unsettled up to the end of `day` gets one. Quotes past their expiry are marked expired."""
    _, end = day_bounds(day, city.timezone)
    await expire_quotes(session=session, city_id=city.id)
    accounts = (
        await session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.city_id == city.id)
            .where(
                LedgerAccount.code.like("biller:%:payable")
                | LedgerAccount.code.like("channel:%:receivable")
            )
            .order_by(LedgerAccount.id)
        )
    ).all()
    progress(total=len(accounts), what=f"settling {city.slug} {day.isoformat()}")
    for account in accounts:
        party = party_of(account.code)
        assert party is not None
        await _settle_account(session, city, day, end, account, party)
        progress(advance=1)
    await ledger.roll_up(session=session, city_id=city.id)
    return await batches(session=session, city_id=city.id, day=day)


async def _settle_account(
    session: AsyncSession,
    city: City,
    day: dt.date,
    end: dt.datetime,
    account: LedgerAccount,
    party: tuple[str, int],
) -> None:
    found = await session.scalar(
        select(SettlementBatch.id).where(
            SettlementBatch.city_id == city.id,
            SettlementBatch.day == day,
            SettlementBatch.party == party[0],
            SettlementBatch.party_id == party[1],
            SettlementBatch.currency == account.currency,
        )
    )
    if found is not None:
        return
    batch = SettlementBatch(
        city_id=city.id,
        day=day,
        party=party[0],
        party_id=party[1],
        account_id=account.id,
        currency=account.currency,
    )
    session.add(batch)
    await session.flush()
    taken = await session.execute(
        update(Entry)
        .where(
            Entry.city_id == city.id,
            Entry.account_id == account.id,
            Entry.settlement_batch_id.is_(None),
            Entry.created_at < end,
        )
        .values(settlement_batch_id=batch.id)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        await session.delete(batch)  # nothing to settle for this party
        await session.flush()
        return
    rows = (
        await session.execute(
            select(Posting.kind, func.count(), func.sum(Entry.amount_fen))
            .join(Posting, Posting.id == Entry.posting_id)
            .where(Entry.settlement_batch_id == batch.id)
            .group_by(Posting.kind)
        )
    ).all()
    moved = sum(int(total) for _, _, total in rows)
    batch.entries = sum(int(n) for _, n, _ in rows)
    batch.net_fen = -moved  # > 0: the hub pays the party
    batch.breakdown = {
        kind: {"entries": int(n), "net_fen": -int(total)} for kind, n, total in sorted(rows)
    }
    if moved:
        batch.posting_id = await ledger.post(
            session=session,
            city_id=city.id,
            kind="settlement",
            currency=account.currency,
            lines=[(account.code, -moved), (ledger.SETTLEMENT, moved)],
            memo=f"settlement of {account.code} for {day.isoformat()}",
        )
        # The batch's own entry on the party's account belongs to it, not to the next one.
        await session.execute(
            update(Entry)
            .where(Entry.posting_id == batch.posting_id, Entry.account_id == account.id)
            .values(settlement_batch_id=batch.id)
            .execution_options(synchronize_session=False)
        )
    await session.flush()


async def batches(
    *, session: AsyncSession, city_id: int, day: dt.date | None = None
) -> list[SettlementBatch]:
    """A city's batches (of one day, when given), by day, party and id."""
    query = select(SettlementBatch).where(SettlementBatch.city_id == city_id)
    if day is not None:
        query = query.where(SettlementBatch.day == day)
    query = query.order_by(SettlementBatch.day, SettlementBatch.party, SettlementBatch.party_id)
    return list((await session.scalars(query)).all())


async def party_names(*, session: AsyncSession, city_id: int) -> dict[tuple[str, int], str]:
    """Display names of a city's parties: service codes and channel slugs."""
    names: dict[tuple[str, int], str] = {}
    for id_, code in await cities.service_codes(session=session, city_id=city_id):
        names[("biller", id_)] = code
    for channel in await identity.get_all_channels(session=session):
        names[("channel", channel.id)] = channel.slug
    return names


def batch_read(batch: SettlementBatch, names: dict[tuple[str, int], str]) -> BatchRead:
    """The API shape of a batch."""
    return BatchRead(
        id=batch.id,
        day=batch.day,
        party=batch.party,
        party_id=batch.party_id,
        party_name=names.get((batch.party, batch.party_id), str(batch.party_id)),
        account=(
            ledger.biller_payable(batch.party_id)
            if batch.party == "biller"
            else ledger.channel_receivable(batch.party_id)
        ),
        currency=batch.currency,
        entries=batch.entries,
        net_fen=batch.net_fen,
        breakdown=batch.breakdown,
        created_at=batch.created_at,
    )


async def run(
    *, session: AsyncSession, actor: audit.Actor, city: City, day: dt.date
) -> list[SettlementBatch]:
    """`settle`, asked by a staff member: the run goes on the audit log."""
    made = await settle(session=session, city=city, day=day)
    await audit.append(
        session=session,
        actor=actor,
        action="settlement.run",
        object_type="settlement",
        object_id=day.isoformat(),
        city_id=city.id,
        details={"batches": len(made), "net_fen": sum(b.net_fen for b in made)},
    )
    return made
