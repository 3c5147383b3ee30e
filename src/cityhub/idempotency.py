"""`Idempotency-Key` for every POST that creates or moves something.

The first answer to a key is stored in the same transaction as the change it made, so a retry
after a lost answer gets that answer back, and a crash never leaves a change without its key.
The same key with another body is refused. Keys are kept for `RETENTION`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.db import Base, BigId, utcnow
from cityhub.deps import CurrentCaller, SessionDep
from cityhub.errors import CityHubError, Unprocessable

RETENTION = dt.timedelta(hours=48)


class IdempotencyKey(Base):
    """The first answer given to a caller's key."""

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

    async def respond(self, status_code: int, body: Any) -> JSONResponse:
        """The answer, remembered under the key when one was sent."""
        data = jsonable_encoder(body)
        if self.key is not None:
            self.session.add(
                IdempotencyKey(
                    owner=self.owner,
                    key=self.key,
                    request_hash=self.request_hash,
                    status_code=status_code,
                    body=data,
                )
            )
            await self.session.flush()
        return JSONResponse(data, status_code=status_code, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Idempotency-Key": self.key} if self.key else {}


async def idempotency(
    request: Request,
    session: SessionDep,
    caller: CurrentCaller,
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="retries with the same key and body get the first answer back",
        ),
    ] = None,
) -> Idempotency:
    """Look the key up: replay the first answer, refuse a reuse with another body, or go on."""
    body = await request.body()
    request_hash = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    if key is not None:
        stored = await session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.owner == caller.key,
                IdempotencyKey.key == key,
            )
        )
        if stored is not None and stored.created_at <= utcnow() - RETENTION:
            await session.delete(stored)  # expired: the key starts afresh
            await session.flush()
        elif stored is not None:
            if stored.request_hash != request_hash:
                raise Unprocessable(
                    "this Idempotency-Key was used with another request",
                    code="idempotency_key_reused",
                    field="Idempotency-Key",
                )
            raise IdempotentReplay(stored.status_code, stored.body)
    return Idempotency(session=session, owner=caller.key, key=key, request_hash=request_hash)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency)]


async def purge_expired(*, session: AsyncSession) -> int:
    """Forget keys older than the retention period; returns how many."""
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at <= utcnow() - RETENTION)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
