"""A channel's own statement of a day: a CSV it uploads, parsed and checked line by line.

Columns (a header line first): `payment_id,channel_txn_id,amount_fen,currency,kind`, where
`kind` is `charge` (the channel charged its user; the default when the column is left out) or
`refund` (it paid its user back). Amounts are whole fen.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing.models import ChannelStatement
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Unprocessable

COLUMNS = ("payment_id", "channel_txn_id", "amount_fen", "currency", "kind")
REQUIRED = ("payment_id", "amount_fen", "currency")
MAX_LINES = 100_000
_AMOUNT = re.compile(r"^-?[0-9]{1,13}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _bad(line: int, column: str, why: str) -> Unprocessable:
    return Unprocessable(
        f"line {line}, {column}: {why}", code="invalid_statement", field=f"line {line}.{column}"
    )


def parse(text: str) -> list[dict[str, Any]]:
    """The statement's lines, or Unprocessable naming the first bad line and column."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise Unprocessable(
            f"the header must name {', '.join(REQUIRED)} (and may name channel_txn_id, kind)",
            code="invalid_statement",
            field="header",
        )
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise Unprocessable(
            f"unknown column {unknown[0]!r}", code="invalid_statement", field="header"
        )
    lines = []
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_LINES:
            raise Unprocessable(
                f"at most {MAX_LINES} lines", code="statement_too_long", field="body"
            )
        if None in raw:  # DictReader files surplus fields under None
            raise _bad(
                number, f"field {len(header) + 1}",
                f"the line has more fields than the header's {len(header)}",
            )  # fmt: skip
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        payment_id = row.get("payment_id", "")
        if not payment_id or len(payment_id) > 80:
            raise _bad(number, "payment_id", "missing or longer than 80 characters")
        amount = row.get("amount_fen", "")
        if not _AMOUNT.match(amount):
            raise _bad(number, "amount_fen", f"{amount!r} is not a whole number of fen")
        currency = row.get("currency", "")
        if not _CURRENCY.match(currency):
            raise _bad(number, "currency", f"{currency!r} is not a currency code like CNY")
        kind = row.get("kind") or "charge"
        if kind not in ("charge", "refund"):
            raise _bad(number, "kind", "is charge or refund")
        lines.append(
            {
                "line": number,
                "payment_id": payment_id,
                "channel_txn_id": row.get("channel_txn_id") or None,
                "amount_fen": int(amount),
                "currency": currency,
                "kind": kind,
            }
        )
    return lines


async def upload(
    *, session: AsyncSession, city_id: int, channel_id: int, day: dt.date, text: str
) -> ChannelStatement:
    """Store a channel's statement of a day (the newest upload is the one reconciled)."""
    statement = ChannelStatement(
        city_id=city_id,
        channel_id=channel_id,
        day=day,
        lines={"lines": parse(text)},
        uploaded_at=utcnow(),
    )
    session.add(statement)
    await session.flush()
    return statement


async def latest(*, session: AsyncSession, city_id: int, day: dt.date) -> list[ChannelStatement]:
    """Each channel's newest statement of the day."""
    rows = await session.scalars(
        select(ChannelStatement)
        .where(ChannelStatement.city_id == city_id, ChannelStatement.day == day)
        .order_by(ChannelStatement.channel_id, ChannelStatement.id.desc())
    )
    newest: dict[int, ChannelStatement] = {}
    for row in rows:
        newest.setdefault(row.channel_id, row)
    return list(newest.values())
