"""`Idempotency-Key` for every POST that creates or moves something.

A request with a key claims it inside its own transaction, and stores its first answer in
that same transaction, together with the change it made: a retry after a lost answer gets that
answer back, and a crash never leaves a change without its key nor a key without its change.
A second request with the key, while the first is still running, inserts the same row: on
PostgreSQL it waits on the key's unique index until the first commits, then gets the stored
answer (or, if the first failed, runs itself); on SQLite every write transaction holds the
database's one write lock, so it waits for the first as a whole. A crash rolls the claim back
with the rest, so a retry is never told `409 idempotency_in_flight` for a request that died.

Only a flow that commits between two transactions (one that calls a provider, see
`platform/uow.py`) makes its claim visible while it runs: a second request is then told so
(409, `Retry-After`), a failure lets go of the claim (errors are not remembered: a retry runs
again), and a claim left by a process that died in that window is taken over after
`IN_FLIGHT_TIMEOUT`. The same key with another body is refused (422). Keys are kept for
`RETENTION` and purged by the `purge-idempotency-keys` job (platform/housekeeping.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import String, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform import fastsql, uow
from cityhub.platform.db import Base, BigId, utcnow
from cityhub.platform.deps import CallerKey, SessionDep
from cityhub.platform.errors import CityHubError, Conflict, Unprocessable

RETENTION = dt.timedelta(hours=48)
IN_FLIGHT_TIMEOUT = dt.timedelta(seconds=60)
IN_FLIGHT = 0  # `status_code` of a key whose first request is still running


class IdempotencyKey(Base):
    """The first answer given to a caller's key (`status_code` 0: still being worked out)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    body: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class IdempotentReplay(CityHubError):
    """Raised to answer with the stored first answer (mapped to that answer, not a problem)."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__("replay")
        self.status_code = status_code
        self.body = body


@dataclass
class Idempotency:
    """The key of this request (if any) and how to remember its answer."""

    session: AsyncSession
    owner: str
    key: str | None
    request_hash: str
    answered: bool = False

    async def respond(self, status_code: int, body: Any) -> JSONResponse:
        """The answer, remembered under the key when one was sent."""
        # A model (the usual answer) straight to JSON types by its own serializer: what
        # `jsonable_encoder` gives, without its walk over every value.
        data = (
            body.model_dump(mode="json", by_alias=True)
            if isinstance(body, BaseModel)
            else jsonable_encoder(body)
        )
        if self.key is not None:
            await _ANSWER.rows(
                self.session,
                {
                    "of_owner": self.owner,
                    "of_key": self.key,
                    "status_code": status_code,
                    "body": data,
                },
            )
            self.answered = True
        return JSONResponse(data, status_code=status_code, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Idempotency-Key": self.key} if self.key else {}


def hash_of(method: str, path: str, body: bytes) -> str:
    """What a key is bound to: the method, the path and the body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def idempotency(
    request: Request,
    session: SessionDep,
    owner: CallerKey,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="retries with the same key and body get the first answer back",
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    """Claim the key, or replay its first answer, or refuse a reuse with another body (422)
    or while the first request is still running (409)."""
    body = await request.body()
    request_hash = hash_of(request.method, request.url.path, body)
    idem = Idempotency(session=session, owner=owner, key=key, request_hash=request_hash)
    if key is None:
        yield idem
        return
    await claim(session, owner, key, request_hash)
    work = uow.of(session)
    claimed_at = work.commits

    async def release(session: AsyncSession) -> None:
        if work.commits > claimed_at:  # a step in between committed the claim: let go of it
            await session.execute(_delete_claim(owner, key))

    work.after_failure(release)
    yield idem
    if not idem.answered:  # the route answered without remembering: nothing to replay
        await session.execute(_delete_claim(owner, key))


def _delete_claim(owner: str, key: str) -> Any:
    return delete(IdempotencyKey).where(
        IdempotencyKey.owner == owner,
        IdempotencyKey.key == key,
        IdempotencyKey.status_code == IN_FLIGHT,
    )


def _param(name: str, column: str | None = None) -> Any:
    """A value of the keys' table, typed as its column."""
    return bindparam(name, type_=fastsql.table(IdempotencyKey).c[column or name].type)


def _claim_statement(dialect: str) -> Any:
    """Claim the key unless somebody has it: `INSERT ... ON CONFLICT DO NOTHING RETURNING`."""
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    names = ("owner", "key", "request_hash", "status_code", "body", "created_at")
    table = fastsql.table(IdempotencyKey)
    return (
        maker(table)
        .values({name: _param(name) for name in names})
        .on_conflict_do_nothing(index_elements=["owner", "key"])
        .returning(table.c.id)
    )


_CLAIM = fastsql.Statement(_claim_statement)
_ANSWER = fastsql.Statement(
    update(fastsql.table(IdempotencyKey))
    .where(
        fastsql.table(IdempotencyKey).c.owner == _param("of_owner", "owner"),
        fastsql.table(IdempotencyKey).c.key == _param("of_key", "key"),
    )
    .values(status_code=_param("status_code"), body=_param("body"))
)


async def claim(session: AsyncSession, owner: str, key: str, request_hash: str) -> None:
    for _ in range(3):
        now = utcnow()
        # The usual case in one statement: nobody has the key yet.
        claimed = await _CLAIM.first(
            session,
            {
                "owner": owner,
                "key": key,
                "request_hash": request_hash,
                "status_code": IN_FLIGHT,
                "body": {},
                "created_at": now,
            },
        )
        if claimed is not None:
            return
        stored = await session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.owner == owner, IdempotencyKey.key == key)
        )
        if stored is None:
            continue  # its request let go of it in between: try again
        if stored.created_at <= now - RETENTION:
            await session.delete(stored)  # expired: the key starts afresh
            await session.flush()
            continue
        if stored.request_hash != request_hash:
            raise Unprocessable(
                "this Idempotency-Key was used with another request",
                code="idempotency_mismatch",
                field="Idempotency-Key",
            )
        if stored.status_code != IN_FLIGHT:
            raise IdempotentReplay(stored.status_code, stored.body)
        if stored.created_at > now - IN_FLIGHT_TIMEOUT:
            raise _in_flight()
        # Its request died without an answer: take the claim over (once, conditionally).
        taken = await session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.id == stored.id,
                IdempotencyKey.status_code == IN_FLIGHT,
                IdempotencyKey.created_at == stored.created_at,
            )
            .values(created_at=now)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            return
    raise _in_flight()


def _in_flight() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is still being processed; retry shortly",
        code="idempotency_in_flight",
        field="Idempotency-Key",
        headers={"Retry-After": "1"},
    )


# scope="function": the claim is settled before the request's own transaction commits.
IdempotencyDep = Annotated[Idempotency, Depends(idempotency, scope="function")]


async def purge_expired(*, session: AsyncSession) -> int:
    """Forget keys older than the retention period; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at <= utcnow() - RETENTION)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
