"""`Idempotency-Key` claimed with the answer, for a route whose work is one transaction and
whose refusals are its common answer (a booking attempt: most of a rush is told "sold out").

`platform/idempotency.py` claims the key first, in the request's transaction, and stores the
answer later: two statements, and a refusal writes its claim before it rolls it back. Here the
key is written once, with the answer, by the statement that claims it (`respond`), and a
refusal writes nothing:

- the route's first read carries the key's probe (`column`, `params`): whether a row stands
  under the key, read in the same statement and so from the same snapshot as what the route
  decides on. Found: the key is settled as `platform/idempotency.py` settles it (replayed,
  refused as another body or still in flight, or taken over) before anything else. Not found:
  whatever committed before that snapshot holds no answer for this key.
- `respond` inserts the key with its answer (`ON CONFLICT DO NOTHING`). A concurrent request
  with the same key that committed first makes it find the row: this request's work is rolled
  back and the first answer replayed (on PostgreSQL the insert waits on the key's unique
  index until the other commits; on SQLite a writer holds the one write lock throughout).
- a refusal after the first read (`refused`) asks once more: a concurrent first request may
  have committed, and made this one's refusal (the patient booked that day: by that request),
  in which case its answer is replayed instead.

A crash rolls back everything with the key, so no retry is told `idempotency_in_flight` for a
request that died. Not for a flow that commits between transactions: its claim must be visible
while it runs (`IdempotencyDep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform.db import utcnow
from cityhub.platform.deps import CallerKey, SessionDep

# `claim` settles a key that stands (replay, another body, in flight, taken over) exactly as
# `IdempotencyDep` does; one piece of code for it.
from cityhub.platform.idempotency import IdempotencyKey, claim, hash_of

PROBE = "idempotency_key_stored"


def _probe() -> Any:
    # Built once: values bound at execution (`params`).
    return (
        exists()
        .where(
            IdempotencyKey.owner == bindparam("idem_owner"),
            IdempotencyKey.key == bindparam("idem_key"),
        )
        .label(PROBE)
    )


PROBE_COLUMN = _probe()


def _inserts() -> dict[str, Any]:
    values: dict[str, Any] = {
        name: bindparam(name)
        for name in ("owner", "key", "request_hash", "status_code", "body", "created_at")
    }
    made: dict[str, Any] = {}
    for dialect, maker in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert)):
        made[dialect] = (
            maker(IdempotencyKey)
            .values(values)
            .on_conflict_do_nothing(index_elements=["owner", "key"])
            .returning(IdempotencyKey.id)
        )
    return made


_INSERT = _inserts()


@dataclass
class LateIdempotency:
    """The key of this request (if any), claimed when its answer is known."""

    session: AsyncSession
    owner: str
    key: str | None
    request_hash: str
    claimed: bool = False  # a row stands under the key already (taken over): `respond` updates

    def params(self) -> dict[str, Any]:
        """The probe's values, for the first read's statement (`PROBE_COLUMN`)."""
        return {"idem_owner": self.owner, "idem_key": self.key or ""}

    async def settle(self, stored: bool) -> None:
        """After the first read: a stored key is replayed, refused or taken over now."""
        if self.key is None or not stored:
            return
        await claim(self.session, self.owner, self.key, self.request_hash)
        self.claimed = True

    async def refused(self) -> None:
        """A refusal after the first read: replay a first answer committed meanwhile (the
        refusal may be that request's doing), else let the refusal stand (nothing written)."""
        if self.key is None or self.claimed:
            return
        stored = await self.session.scalar(
            select(IdempotencyKey.id).where(
                IdempotencyKey.owner == self.owner, IdempotencyKey.key == self.key
            )
        )
        if stored is not None:
            await claim(self.session, self.owner, self.key, self.request_hash)

    async def respond(self, status_code: int, body: Any) -> JSONResponse:
        """The answer, and the key claimed with it (or the first answer, if another request
        with the key committed first: this one's work is then rolled back)."""
        # A model's own JSON dump: what `jsonable_encoder` answers for it, without its second,
        # recursive pass over the dump.
        data = (
            body.model_dump(mode="json", by_alias=True)
            if isinstance(body, BaseModel)
            else jsonable_encoder(body)
        )
        if self.key is None:
            return JSONResponse(data, status_code=status_code)
        headers = {"Idempotency-Key": self.key}
        if not self.claimed:
            dialect = self.session.get_bind().dialect.name
            values = {
                "owner": self.owner, "key": self.key, "request_hash": self.request_hash,
                "status_code": status_code, "body": data, "created_at": utcnow(),
            }  # fmt: skip
            if await self.session.scalar(_INSERT[dialect], values) is not None:
                return JSONResponse(data, status_code=status_code, headers=headers)
            # Another request with the key committed first: its answer is replayed (or another
            # body refused), and this request's work goes back with the exception. A claim
            # taken over instead (its request died) is this request's to answer.
            await claim(self.session, self.owner, self.key, self.request_hash)
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.owner == self.owner, IdempotencyKey.key == self.key)
            .values(status_code=status_code, body=data)
        )
        return JSONResponse(data, status_code=status_code, headers=headers)


async def late_idempotency(
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
) -> LateIdempotency:
    """The request's key, to be probed by its first read and claimed with its answer."""
    digest = hash_of(request.method, request.url.path, await request.body())
    return LateIdempotency(session=session, owner=owner, key=key, request_hash=digest)


LateIdempotencyDep = Annotated[LateIdempotency, Depends(late_idempotency)]
