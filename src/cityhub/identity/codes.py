"""One-time codes sent by text message: the portal's sign-in codes and the codes that prove a
person holds the phone on their record when another channel asks to be linked to them.

The rules are the same for both: six digits, `CODE_TTL`, `ATTEMPTS` tries, used once. Only a
keyed hash of each code is stored (bound to its row and its purpose). A try is taken with one
conditional statement, so that two tries racing cannot both use the last one; the caller
commits even when a wrong code raises, so that the try counts.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity.pii import Vault
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Unprocessable
from cityhub.platform.throttle import BackOff

CODE_TTL = dt.timedelta(minutes=5)
ATTEMPTS = 5
# Asking for codes: beyond a limit (per phone, per person, per client or channel) the next
# code waits WINDOW after the last one (`platform.throttle`, as every limit on attempts).
WINDOW = dt.timedelta(minutes=10)


def limit(scope: str, free: int, code: str, detail: str, field: str | None = None) -> BackOff:
    """A limit on asking for codes: `free` of them, then one each WINDOW."""
    return BackOff(
        scope=scope,
        free=free,
        first_wait=WINDOW,
        max_wait=WINDOW,
        forget_after=WINDOW,
        code=code,
        detail=detail,
        field=field,
    )


def new_code() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(vault: Vault, purpose: str, row_id: int, code: str) -> str:
    """What is stored of a code: a keyed hash bound to its row and purpose."""
    return vault.lookup_hash(purpose, f"{row_id}:{code}")


async def use(
    *,
    session: AsyncSession,
    vault: Vault,
    table: Any,
    purpose: str,
    row: Any,
    code: str,
) -> None:
    """Use up `row`'s code if `code` is right; Unprocessable otherwise (a try is gone).

    `table` is the mapped class of `row`, with `id`, `code_hash`, `attempts_left`,
    `expires_at` and `used_at` columns.
    """
    now = utcnow()
    if row.used_at is not None or row.expires_at <= now or not row.code_hash:
        raise Unprocessable(
            "the code has expired or was used; ask for a new one", code="code_expired"
        )
    taken = await session.execute(
        update(table)
        .where(table.id == row.id, table.attempts_left > 0)
        .values(attempts_left=table.attempts_left - 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Unprocessable("too many wrong codes; ask for a new one", code="code_attempts_used")
    if not secrets.compare_digest(code_hash(vault, purpose, row.id, code.strip()), row.code_hash):
        left = row.attempts_left - 1
        if left <= 0:
            raise Unprocessable(
                "too many wrong codes; ask for a new one", code="code_attempts_used"
            )
        raise Unprocessable(
            f"the code is not right; {left} tries left", code="code_wrong", field="code"
        )
    used = await session.execute(
        update(table)
        .where(table.id == row.id, table.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Unprocessable("the code was used already", code="code_expired")
