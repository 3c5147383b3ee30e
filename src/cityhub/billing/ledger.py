"""The double-entry ledger: accounts, balanced postings, and the check that they add up.

Every movement of money is one `Posting` whose entries sum to zero in their currency (debits
positive, credits negative). The accounts' balances move in the same transaction as the entries,
but as late as it can: `post` writes the posting and its entries at once and keeps the amounts
on the session; just before the transaction commits, one statement adds them to the balances
(`INSERT ... ON CONFLICT DO UPDATE SET balance_fen = balance_fen + excluded.balance_fen`, rows
in city, currency and account-code order). A few accounts take every payment (a channel's
receivable, a biller's pending): their rows are locked only from that statement to the
commit, not for the rest of the request, so payments queue on them for as short a time as
possible; two transactions can neither lose an update nor wait on each other in a cycle, since
all lock in the same order.
Reading balances in the transaction that posted (`balances`, `check`) adds them first.

The accounts of a city, per currency:

| code                          | kind      | holds                                              |
|-------------------------------|-----------|----------------------------------------------------|
| `channel:<id>:receivable`     | asset     | what a channel owes the hub for confirmed payments |
| `biller:<id>:pending`         | liability | what the hub owes a biller once it accepts         |
| `biller:<id>:payable`         | liability | what the hub owes a biller for accepted payments   |
| `hub:fees`                    | revenue   | fees earned                                        |
| `hub:settlement`              | clearing  | money moved out and in by settlement batches       |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, event, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cityhub.billing.models import Entry, LedgerAccount, Posting
from cityhub.platform.db import utcnow

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])
FEES = "hub:fees"
SETTLEMENT = "hub:settlement"


class Unbalanced(Exception):
    """A posting whose entries do not sum to zero: a bug, never written."""


def channel_receivable(channel_id: int) -> str:
    """The account of what a channel owes the hub."""
    return f"channel:{channel_id}:receivable"


def biller_pending(service_id: int) -> str:
    """The account of what the hub will owe a biller once it accepts the payments."""
    return f"biller:{service_id}:pending"


def biller_payable(service_id: int) -> str:
    """The account of what the hub owes a biller."""
    return f"biller:{service_id}:payable"


def kind_of(code: str) -> str:
    """The kind of an account, from its code."""
    if code.startswith("channel:"):
        return "asset"
    if code.startswith("biller:"):
        return "liability"
    return "revenue" if code == FEES else "clearing"


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def account_ids(
    *, session: AsyncSession, city_id: int, currency: str, codes: Sequence[str]
) -> dict[str, int]:
    """The ids of a city's accounts by code, opening the ones that do not exist yet (without
    locking the ones that do)."""
    wanted = sorted(set(codes))

    async def known() -> dict[str, int]:
        rows = await session.execute(
            select(LedgerAccount.code, LedgerAccount.id).where(
                LedgerAccount.city_id == city_id,
                LedgerAccount.currency == currency,
                LedgerAccount.code.in_(wanted),
            )
        )
        return {code: int(id_) for code, id_ in rows.all()}

    ids = await known()
    missing = [code for code in wanted if code not in ids]
    if missing:
        now = utcnow()
        rows = [
            {
                "city_id": city_id,
                "code": code,
                "kind": kind_of(code),
                "currency": currency,
                "balance_fen": 0,
                "created_at": now,
            }
            for code in missing
        ]
        await session.execute(
            _insert(session)(LedgerAccount)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["city_id", "code", "currency"])
        )
        ids = await known()
    return ids


# The amounts posted in a session's transaction and not yet added to the balances:
# {(city_id, currency): {code: amount}}.
_PENDING = "cityhub.ledger.pending"


def _pending(info: dict[Any, Any]) -> dict[tuple[int, str], dict[str, int]]:
    found: dict[tuple[int, str], dict[str, int]] = info.setdefault(_PENDING, {})
    return found


def _balance_updates(session: Session | AsyncSession) -> list[Any]:
    """The statements that add the pending amounts to the balances (and forget them)."""
    pending: dict[tuple[int, str], dict[str, int]] = session.info.pop(_PENDING, {})
    rows = [
        {
            "city_id": city_id,
            "code": code,
            "kind": kind_of(code),
            "currency": currency,
            "balance_fen": amount,
            "created_at": utcnow(),
        }
        for (city_id, currency), amounts in sorted(pending.items())
        for code, amount in sorted(amounts.items())
        if amount != 0
    ]
    if not rows:
        return []
    # The rows are taken in this (city, currency, code) order: one lock order for everyone.
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = maker(LedgerAccount).values(rows)
    return [
        statement.on_conflict_do_update(
            index_elements=["city_id", "code", "currency"],
            set_={"balance_fen": LedgerAccount.balance_fen + statement.excluded.balance_fen},
        )
    ]


async def apply_balances(session: AsyncSession) -> None:
    """Add what this transaction posted to the balances now (the commit does it otherwise)."""
    for statement in _balance_updates(session):
        await session.execute(statement)


@event.listens_for(Session, "before_commit")
def _balances_before_commit(session: Session) -> None:
    for statement in _balance_updates(session):
        session.execute(statement)


@event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def post(
    *,
    session: AsyncSession,
    city_id: int,
    kind: str,
    currency: str,
    lines: Sequence[tuple[str, int]],
    payment_id: int | None = None,
    refund_id: int | None = None,
    memo: str = "",
) -> int:
    """Write one balanced posting (lines of account code and signed amount); its id."""
    amounts: dict[str, int] = {}
    for code, amount in lines:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise Unbalanced(f"{code}: amounts are integers in minor units, not {amount!r}")
        amounts[code] = amounts.get(code, 0) + amount
    amounts = {code: amount for code, amount in amounts.items() if amount != 0}
    if sum(amounts.values()) != 0:
        raise Unbalanced(f"{kind}: entries sum to {sum(amounts.values())}, not zero")
    if len(amounts) < 2:
        raise Unbalanced(f"{kind}: a posting moves money between at least two accounts")
    ids = await account_ids(
        session=session, city_id=city_id, currency=currency, codes=list(amounts)
    )
    pending = _pending(session.info).setdefault((city_id, currency), {})
    for code, amount in amounts.items():
        pending[code] = pending.get(code, 0) + amount
    now = utcnow()
    posting_id = await session.scalar(
        insert(Posting)
        .values(
            city_id=city_id,
            kind=kind,
            payment_id=payment_id,
            refund_id=refund_id,
            memo=memo[:200],
            created_at=now,
        )
        .returning(Posting.id)
    )
    assert posting_id is not None
    await session.execute(
        insert(Entry).values(
            [
                {
                    "city_id": city_id,
                    "posting_id": posting_id,
                    "account_id": ids[code],
                    "amount_fen": amount,
                    "currency": currency,
                    "created_at": now,
                }
                for code, amount in amounts.items()
            ]
        )
    )
    return int(posting_id)


@dataclass
class LedgerReport:
    """What `check` found: empty lists mean the ledger adds up."""

    postings: int = 0
    entries: int = 0
    accounts: int = 0
    unbalanced_postings: list[tuple[int, str, int]] = field(default_factory=list)
    thin_postings: list[int] = field(default_factory=list)
    wrong_balances: list[tuple[int, str, int, int]] = field(default_factory=list)
    currency_mismatches: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every posting balances and every balance equals its entries."""
        return not (
            self.unbalanced_postings
            or self.thin_postings
            or self.wrong_balances
            or self.currency_mismatches
        )

    def problems(self) -> list[str]:
        """One line per problem found."""
        lines = [f"posting {p} sums to {s} {c}, not zero" for p, c, s in self.unbalanced_postings]
        lines += [f"posting {p} has fewer than two entries" for p in self.thin_postings]
        lines += [
            f"account {a} ({code}) says {bal} but its entries sum to {total}"
            for a, code, bal, total in self.wrong_balances
        ]
        lines += [
            f"entry {e} is in another currency than its account" for e in self.currency_mismatches
        ]
        return lines


async def check(*, session: AsyncSession, city_id: int | None = None) -> LedgerReport:
    """Verify the ledger (of one city, or all): postings sum to zero per currency, each has
    two entries or more, each account's balance equals the sum of its entries."""
    await apply_balances(session)
    report = LedgerReport()

    def scoped(query: Q, column: Any) -> Q:
        return query if city_id is None else query.where(column == city_id)

    report.postings = int(
        await session.scalar(scoped(select(func.count()).select_from(Posting), Posting.city_id))
        or 0
    )
    report.entries = int(
        await session.scalar(scoped(select(func.count()).select_from(Entry), Entry.city_id)) or 0
    )
    report.accounts = int(
        await session.scalar(
            scoped(select(func.count()).select_from(LedgerAccount), LedgerAccount.city_id)
        )
        or 0
    )
    total = func.sum(Entry.amount_fen)
    sums = scoped(
        select(Entry.posting_id, Entry.currency, total).group_by(Entry.posting_id, Entry.currency),
        Entry.city_id,
    ).having(total != 0)
    report.unbalanced_postings = [
        (int(p), str(c), int(s)) for p, c, s in (await session.execute(sums)).all()
    ]
    counts = (
        select(Posting.id)
        .outerjoin(Entry, Entry.posting_id == Posting.id)
        .group_by(Posting.id)
        .having(func.count(Entry.id) < 2)
    )
    report.thin_postings = [int(p) for p in await session.scalars(scoped(counts, Posting.city_id))]
    entry_sum = func.coalesce(func.sum(Entry.amount_fen), 0)
    balances = (
        select(LedgerAccount.id, LedgerAccount.code, LedgerAccount.balance_fen, entry_sum)
        .outerjoin(Entry, Entry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.id, LedgerAccount.code, LedgerAccount.balance_fen)
        .having(LedgerAccount.balance_fen != entry_sum)
    )
    report.wrong_balances = [
        (int(a), str(code), int(bal), int(tot))
        for a, code, bal, tot in (
            await session.execute(scoped(balances, LedgerAccount.city_id))
        ).all()
    ]
    mismatched = (
        select(Entry.id)
        .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
        .where(Entry.currency != LedgerAccount.currency)
    )
    report.currency_mismatches = [
        int(e) for e in await session.scalars(scoped(mismatched, Entry.city_id))
    ]
    return report


async def balances(*, session: AsyncSession, city_id: int) -> list[LedgerAccount]:
    """A city's accounts with their balances."""
    await apply_balances(session)
    query = (
        select(LedgerAccount)
        .where(LedgerAccount.city_id == city_id)
        .order_by(LedgerAccount.code, LedgerAccount.currency)
    )
    return list((await session.scalars(query)).all())


async def postings_of(
    *, session: AsyncSession, city_id: int, payment_id: int
) -> list[tuple[Posting, list[tuple[str, int, str]]]]:
    """A payment's postings, oldest first, each with its entries (account code, amount,
    currency): what the console shows beside a payment."""
    postings = list(
        (
            await session.scalars(
                select(Posting)
                .where(Posting.city_id == city_id, Posting.payment_id == payment_id)
                .order_by(Posting.id)
            )
        ).all()
    )
    if not postings:
        return []
    rows = (
        await session.execute(
            select(Entry.posting_id, LedgerAccount.code, Entry.amount_fen, Entry.currency)
            .join(LedgerAccount, LedgerAccount.id == Entry.account_id)
            .where(Entry.city_id == city_id, Entry.posting_id.in_([p.id for p in postings]))
            .order_by(Entry.id)
        )
    ).all()
    lines: dict[int, list[tuple[str, int, str]]] = {p.id: [] for p in postings}
    for posting_id, code, amount, currency in rows:
        lines[posting_id].append((code, amount, currency))
    return [(p, lines[p.id]) for p in postings]
