"""The double-entry ledger: accounts, balanced postings, and the check that they add up.

Every movement of money is one `Posting` whose entries sum to zero in their currency (debits
positive, credits negative). A posting writes its entries and nothing else: no balance row is
updated on the way, so payments do not queue behind each other on the few accounts that take
every one of them (a channel's receivable, a biller's pending). A balance is derived from the
entries: an account's `balance_fen` holds the entries rolled up so far, and reading a balance
adds the entries not rolled up yet (an index holds just those). `roll_up` (the
`roll-up-ledger` job, and each settlement) marks entries rolled up with one conditional
`UPDATE ... WHERE NOT rolled_up` and adds them to their accounts in the same transaction, so
an entry is counted exactly once whichever of two roll-ups gets it. `check` proves both
halves: every posting balances, and every account's stored part equals its rolled-up entries.

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

from sqlalchemy import (
    BigInteger,
    Select,
    case,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import Entry, LedgerAccount, Posting
from cityhub.billing.sql import COLUMNS as _COLUMNS
from cityhub.billing.sql import POST as _POST
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
    """The kind of an account, from its code (a sandbox account's as its live namesake's)."""
    code = code.removeprefix("sandbox:")
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
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # The posting and its entries in one statement (one round trip), compiled once.
        found = await _POST.first(
            session,
            {
                "p_city": city_id, "p_kind": kind, "p_payment": payment_id,
                "p_refund": refund_id, "p_memo": memo[:200], "p_now": now,
                "p_currency": currency, "p_codes": list(amounts),
                "p_amounts": list(amounts.values()),
            },
        )  # fmt: skip
        assert found is not None
        posting_id, written = int(found["id"]), int(found["written"])
    else:
        posting = insert(Posting).values(
            city_id=city_id,
            kind=kind,
            payment_id=payment_id,
            refund_id=refund_id,
            memo=memo[:200],
            created_at=now,
        )
        posting_id = int(await session.scalar(posting.returning(Posting.id)) or 0)
        written = await _write_entries(session, city_id, currency, posting_id, amounts, now)
    if written < len(amounts):  # an account's first posting: open it, then write the rest
        done = set(
            await session.scalars(
                select(LedgerAccount.code)
                .join(Entry, Entry.account_id == LedgerAccount.id)
                .where(Entry.posting_id == posting_id)
            )
        )
        rest = {code: amount for code, amount in amounts.items() if code not in done}
        await account_ids(session=session, city_id=city_id, currency=currency, codes=list(rest))
        written += await _write_entries(session, city_id, currency, posting_id, rest, now)
        if written != len(amounts):
            raise Unbalanced(f"{kind}: {len(amounts) - written} entries found no account")
    return posting_id


def _entry_rows(
    city_id: int, currency: str, posting_id: Any, amounts: dict[str, int], now: Any
) -> Select[Any]:
    """The entries of a posting, one per account of `amounts` that exists: its id found by
    code in the same statement (nothing else is read, nothing locked)."""
    amount = case(
        {code: literal(fen, BigInteger()) for code, fen in amounts.items()},
        value=LedgerAccount.code,
    )
    return select(
        literal(city_id, BigInteger()),
        posting_id,
        LedgerAccount.id,
        amount,
        literal(currency),
        literal(False),
        literal(now, Entry.created_at.type),
    ).where(
        LedgerAccount.city_id == city_id,
        LedgerAccount.currency == currency,
        LedgerAccount.code.in_(sorted(amounts)),
    )


async def _write_entries(
    session: AsyncSession,
    city_id: int,
    currency: str,
    posting_id: int,
    amounts: dict[str, int],
    now: Any,
) -> int:
    """Write a posting's entries on the accounts that exist; how many were written."""
    rows = _entry_rows(city_id, currency, literal(posting_id, BigInteger()), amounts, now)
    result = await session.execute(insert(Entry).from_select(_COLUMNS, rows))
    return int(result.rowcount)  # type: ignore[attr-defined]


ROLL_UP_BATCH = 5_000


async def roll_up(*, session: AsyncSession, city_id: int | None = None) -> int:
    """Add the entries not rolled up yet (of one city, or all) to their accounts' stored
    balances; how many. Each entry is taken once: the `UPDATE ... WHERE NOT rolled_up` that
    marks it is what adds it (on PostgreSQL, entries another roll-up holds are skipped)."""
    total = 0
    while True:
        pick = select(Entry.id).where(Entry.rolled_up.is_(False))
        if city_id is not None:
            pick = pick.where(Entry.city_id == city_id)
        pick = pick.order_by(Entry.id).limit(ROLL_UP_BATCH).with_for_update(skip_locked=True)
        taken = (
            await session.execute(
                update(Entry)
                .where(Entry.id.in_(pick.scalar_subquery()), Entry.rolled_up.is_(False))
                .values(rolled_up=True)
                .returning(Entry.account_id, Entry.amount_fen)
                .execution_options(synchronize_session=False)
            )
        ).all()
        sums: dict[int, int] = {}
        for account_id, fen in taken:
            sums[account_id] = sums.get(account_id, 0) + fen
        for account_id, fen in sorted(sums.items()):  # one lock order for every roll-up
            if fen:
                await session.execute(
                    update(LedgerAccount)
                    .where(LedgerAccount.id == account_id)
                    .values(balance_fen=LedgerAccount.balance_fen + fen)
                    .execution_options(synchronize_session=False)
                )
        total += len(taken)
        if len(taken) < ROLL_UP_BATCH:
            return total


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
    two entries or more, each account's stored balance equals the sum of its entries rolled up
    (the balance read adds the others to it, so it equals the sum of all of them)."""
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
        .outerjoin(Entry, (Entry.account_id == LedgerAccount.id) & Entry.rolled_up.is_(True))
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


@dataclass(frozen=True)
class Balance:
    """An account and its balance: the stored part plus the entries not rolled up yet."""

    id: int
    code: str
    kind: str
    currency: str
    balance_fen: int


async def balances(*, session: AsyncSession, city_id: int) -> list[Balance]:
    """A city's accounts with their balances."""
    unrolled = (
        select(Entry.account_id, func.sum(Entry.amount_fen).label("fen"))
        .where(Entry.city_id == city_id, Entry.rolled_up.is_(False))
        .group_by(Entry.account_id)
        .subquery()
    )
    query = (
        select(
            LedgerAccount.id,
            LedgerAccount.code,
            LedgerAccount.kind,
            LedgerAccount.currency,
            LedgerAccount.balance_fen + func.coalesce(unrolled.c.fen, 0),
        )
        .outerjoin(unrolled, unrolled.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.city_id == city_id)
        .order_by(LedgerAccount.code, LedgerAccount.currency)
    )
    return [
        Balance(int(id_), str(code), str(kind), str(currency), int(fen))
        for id_, code, kind, currency, fen in (await session.execute(query)).all()
    ]


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
