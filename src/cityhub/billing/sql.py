"""The statements of the payment hot path, compiled once and run on the driver
(`platform/fastsql.py`): a quote's INSERT, a confirmation's conditional UPDATE, the hold on an
exact-amount bill, and on PostgreSQL a posting with its entries in one round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql

from cityhub.billing.models import (
    Bill,
    BillerTerms,
    Entry,
    LedgerAccount,
    Payment,
    PaymentStatus,
    Posting,
)
from cityhub.platform import fastsql

# The columns a quote writes (the rest keep their defaults).
QUOTED = frozenset({
    "city_id", "public_id", "channel_id", "service_id", "bill_id", "user_id", "amount_fen",
    "fee_fen", "total_fen", "currency", "holds_bill", "status", "quote_expires_at",
    "refunded_fen", "biller_attempts", "created_at", "sandbox", "subsidy_fen",
})  # fmt: skip

_P = fastsql.table(Payment)
_B = fastsql.table(Bill)


def _value(name: str, column: str, table: Any = _P) -> Any:
    """A named value, typed as the table's column."""
    return bindparam(name, type_=table.c[column].type)


INSERT_PAYMENT = fastsql.Statement(
    insert(_P)
    .values({c.key: _value(c.key, c.key) for c in _P.c if c.key in QUOTED})
    .returning(_P.c.id)
)
# The confirmation: one conditional UPDATE ... RETURNING of the whole row.
_CONFIRMED = (
    update(_P)
    .where(
        _P.c.city_id == _value("w_city", "city_id"),
        _P.c.public_id == _value("w_public_id", "public_id"),
        _P.c.channel_id == _value("w_channel", "channel_id"),
        _P.c.currency == _value("w_currency", "currency"),
        _P.c.total_fen == _value("w_total", "total_fen"),
        _P.c.status == PaymentStatus.QUOTED,
        _P.c.quote_expires_at > _value("w_now", "quote_expires_at"),
    )
    .values(
        status=PaymentStatus.CONFIRMED,
        channel_txn_id=_value("channel_txn_id", "channel_txn_id"),
        confirmed_at=_value("confirmed_at", "confirmed_at"),
    )
    .returning(*_P.c)
)
CONFIRM = fastsql.Statement(_CONFIRMED)
PAYMENT_COLUMNS = tuple(c.key for c in _P.c)
BILL_LABELS = {c.key: f"b_{c.key}" for c in _B.c}
assert not set(BILL_LABELS.values()) & set(PAYMENT_COLUMNS)  # one row holds both


def _confirm_and_hold() -> Any:
    """PostgreSQL: the confirmation and the hold on its exact-amount bill in one statement
    (one round trip). The payment's row, its bill's (as it stood before the statement) and
    `held`: whether this statement took the bill (false for a shared bill, or one another
    payment holds)."""
    confirmed = _CONFIRMED.cte("confirmed")
    held = (
        update(_B)
        .where(
            _B.c.city_id == confirmed.c.city_id,  # the primary key is (city_id, id)
            _B.c.id == confirmed.c.bill_id,
            confirmed.c.holds_bill,
            _B.c.paying_payment_id.is_(None),
        )
        .values(paying_payment_id=confirmed.c.id)
        .returning(_B.c.id)
        .cte("held")
    )
    return select(
        *confirmed.c,
        *[c.label(BILL_LABELS[c.key]) for c in _B.c],
        exists(select(held.c.id)).label("held"),
    ).select_from(
        confirmed.join(_B, (_B.c.city_id == confirmed.c.city_id) & (_B.c.id == confirmed.c.bill_id))
    )


CONFIRM_AND_HOLD = fastsql.Statement(_confirm_and_hold())
# An exact-amount bill is held by the one payment confirmed for it.
HOLD_BILL = fastsql.Statement(
    update(_B)
    .where(
        _B.c.city_id == _value("w_city", "city_id", _B),  # the primary key is (city_id, id)
        _B.c.id == _value("w_bill", "id", _B),
        _B.c.paying_payment_id.is_(None),
    )
    .values(paying_payment_id=_value("w_payment", "paying_payment_id", _B))
    .returning(*_B.c)
)


# A bill that was shown, with its biller's terms in force (none stored: NULLs), in one read.
_T = fastsql.table(BillerTerms)
BILL_COLUMNS = tuple(c.key for c in _B.c)
TERMS_COLUMNS = {c.key: f"terms_{c.key}" for c in _T.c}
TERMS_ID = TERMS_COLUMNS["id"]
KEPT_WITH_TERMS = fastsql.Statement(
    select(*_B.c, *[c.label(TERMS_COLUMNS[c.key]) for c in _T.c])
    .select_from(
        _B.outerjoin(_T, (_T.c.city_id == _B.c.city_id) & (_T.c.service_id == _B.c.service_id))
    )
    .where(
        _B.c.city_id == _value("w_city", "city_id", _B),
        _B.c.service_id == _value("w_service", "service_id", _B),
        _B.c.bill_ref == _value("w_ref", "bill_ref", _B),
    )
)

COLUMNS = [
    "city_id", "posting_id", "account_id", "amount_fen", "currency", "rolled_up", "created_at"
]  # fmt: skip


def _post_statement() -> Any:
    """PostgreSQL: a posting and its entries in one statement. A CTE inserts the posting; the
    entries are the lines (`unnest` of the codes and amounts, side by side) joined to their
    accounts by code, so a line whose account does not exist yet writes nothing and is
    counted out (`written`)."""
    p = fastsql.table(Posting)
    made = (
        insert(p)
        .values(
            city_id=bindparam("p_city", type_=BigInteger()),
            kind=bindparam("p_kind", type_=p.c.kind.type),
            payment_id=bindparam("p_payment", type_=BigInteger()),
            refund_id=bindparam("p_refund", type_=BigInteger()),
            memo=bindparam("p_memo", type_=p.c.memo.type),
            created_at=bindparam("p_now", type_=p.c.created_at.type),
        )
        .returning(p.c.id)
        .cte("posting")
    )
    lines = select(
        func.unnest(bindparam("p_codes", type_=postgresql.ARRAY(String()))).label("code"),
        func.unnest(bindparam("p_amounts", type_=postgresql.ARRAY(BigInteger()))).label("fen"),
    ).subquery("lines")
    accounts = fastsql.table(LedgerAccount)
    rows = (
        select(
            bindparam("p_city", type_=BigInteger()),
            made.c.id,
            accounts.c.id,
            lines.c.fen,
            bindparam("p_currency", type_=String()),
            literal(False),
            bindparam("p_now", type_=Entry.created_at.type),
        )
        .select_from(made.join(lines, true()).join(accounts, accounts.c.code == lines.c.code))
        .where(
            accounts.c.city_id == bindparam("p_city", type_=BigInteger()),
            accounts.c.currency == bindparam("p_currency", type_=String()),
        )
    )
    entries = (
        insert(fastsql.table(Entry)).from_select(COLUMNS, rows).returning(fastsql.table(Entry).c.id)
    ).cte("entries")
    written = select(func.count()).select_from(entries).scalar_subquery().label("written")
    return select(made.c.id, written)


POST = fastsql.Statement(_post_statement())
