"""FastAPI dependencies as `Annotated` aliases: the settings, the database, the request's unit
of work, the caller's stable name, a row id in the path.

Who is calling is the identity domain's (`identity/deps.py`: `CurrentChannel`, `CurrentStaff`,
`VaultDep`, the role checks); the city in the path is the cities domain's (`cities/deps.py`:
`CityDep`). The platform names neither: the identity domain answers `CallerKey` when the app
starts (`identity.deps.install`), and a refusal it must keep on record after the rollback is a
`RecordedRefusal`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import nullcontext
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import uow
from cityhub.platform.config import Settings
from cityhub.platform.db import MAX_ROW_ID, Database, reads_first
from cityhub.platform.errors import Conflict, NotFound
from cityhub.platform.throttle import Throttle

# Dependencies are `async def` even when they only read app state: FastAPI runs a plain `def`
# dependency on its thread pool, a hop per dependency per request.
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


async def get_throttle(request: Request) -> Throttle:
    """The app's attempt counters (limits on guessing)."""
    throttle: Throttle = request.app.state.throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]


class RecordedRefusal(NotFound):
    """A refusal that must stay on record although the request's work is rolled back (what
    the record is, is the raiser's: `record_in`)."""

    async def record_in(self, session: AsyncSession) -> None:
        """Write the record, in a unit of work of its own."""
        raise NotImplementedError


async def get_session(request: Request, db: DbDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back if it raises.
    A unique key raced by a concurrent request is 409; any other violation is a bug (500).
    A recorded refusal (a provider's member refused another provider's object) is written in
    a unit of its own. On SQLite a GET or HEAD reads without taking the write lock
    (`db.reads_first`)."""
    try:
        with reads_first() if request.method in SAFE_METHODS else nullcontext():
            async with uow.unit_of_work(db.sessions) as work:
                yield work.session
    except RecordedRefusal as exc:
        async with uow.unit_of_work(db.sessions) as work:
            await exc.record_in(work.session)
        raise
    except IntegrityError as exc:
        if not uow.is_concurrent_change(exc):
            raise
        raise Conflict(
            "a concurrent request changed the same thing; retry", code="concurrent_change"
        ) from None


# scope="function": the commit happens before the answer is sent, so a failed commit is the
# answer (a problem), never a success that did not stick.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


CallerResolver = Callable[[Request, AsyncSession], Awaitable[str]]


async def caller_key(request: Request, session: SessionDep) -> str:
    """The calling channel's or staff member's stable name (idempotency keys are theirs).
    The identity domain answers it: `identity.deps.install(app)` puts its resolver in the
    app's state at start. (Not `app.dependency_overrides`: with any override in place,
    FastAPI re-reads the signature of every dependency of every request, a third of the
    catalogue read's CPU.)"""
    resolve: CallerResolver | None = getattr(request.app.state, "caller_key", None)
    if resolve is None:
        raise RuntimeError("no caller resolution installed: call identity.deps.install(app)")
    return await resolve(request, session)


CallerKey = Annotated[str, Depends(caller_key)]

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the object's id")]
