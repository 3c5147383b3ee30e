"""FastAPI dependencies as `Annotated` aliases: the settings, the database, the request's unit
of work, the caller's stable name, a row id in the path.

Who is calling is the identity domain's (`identity/deps.py`: `CurrentChannel`, `CurrentStaff`,
`VaultDep`, the role checks); the city in the path is the cities domain's (`cities/deps.py`:
`CityDep`). The platform names neither: the identity domain answers `CallerKey` when the app
starts (`identity.deps.install`), and a refusal it must keep on record after the rollback is a
`RecordedRefusal`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import uow
from cityhub.platform.config import Settings
from cityhub.platform.db import MAX_ROW_ID, Database
from cityhub.platform.errors import Conflict, NotFound
from cityhub.platform.throttle import Throttle


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


def get_throttle(request: Request) -> Throttle:
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


async def get_session(db: DbDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route returns, rolled back if it raises.
    A unique key raced by a concurrent request is 409; any other violation is a bug (500).
    A recorded refusal (a provider's member refused another provider's object) is written in
    a unit of its own."""
    try:
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


async def caller_key() -> str:
    """The calling channel's or staff member's stable name (idempotency keys are theirs).
    The identity domain answers it (`identity.deps.install(app)`, at app start)."""
    raise RuntimeError("no caller resolution installed: call identity.deps.install(app)")


CallerKey = Annotated[str, Depends(caller_key)]

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="the object's id")]


# -- the old home of the caller and the city (until every domain imports the new one) -------
# These names moved to identity/deps.py and cities/deps.py. Modules of other branches still
# import them from here; they are handed on at first use, so the platform imports no domain.
# Remove once nothing imports them from cityhub.platform.deps.

_MOVED = {
    "cityhub.identity.deps": (
        "SESSION_COOKIE",
        "CSRF_HEADER",
        "VaultDep",
        "get_vault",
        "ProviderRefused",
        "ChannelCaller",
        "StaffCaller",
        "Caller",
        "staff_caller_for_token",
        "set_session_cookie",
        "clear_session_cookie",
        "current_channel",
        "current_staff",
        "current_caller",
        "CurrentChannel",
        "CurrentStaff",
        "CurrentCaller",
        "require_provider",
        "provider_guard",
        "require_staff_role",
    ),
    "cityhub.cities.deps": ("city_for_caller", "CityDep"),
}
_HOME = {name: module for module, names in _MOVED.items() for name in names}

if TYPE_CHECKING:
    from cityhub.cities.deps import CityDep as CityDep
    from cityhub.cities.deps import city_for_caller as city_for_caller
    from cityhub.identity.deps import CSRF_HEADER as CSRF_HEADER
    from cityhub.identity.deps import SESSION_COOKIE as SESSION_COOKIE
    from cityhub.identity.deps import Caller as Caller
    from cityhub.identity.deps import ChannelCaller as ChannelCaller
    from cityhub.identity.deps import CurrentCaller as CurrentCaller
    from cityhub.identity.deps import CurrentChannel as CurrentChannel
    from cityhub.identity.deps import CurrentStaff as CurrentStaff
    from cityhub.identity.deps import ProviderRefused as ProviderRefused
    from cityhub.identity.deps import StaffCaller as StaffCaller
    from cityhub.identity.deps import VaultDep as VaultDep
    from cityhub.identity.deps import clear_session_cookie as clear_session_cookie
    from cityhub.identity.deps import current_caller as current_caller
    from cityhub.identity.deps import current_channel as current_channel
    from cityhub.identity.deps import current_staff as current_staff
    from cityhub.identity.deps import get_vault as get_vault
    from cityhub.identity.deps import provider_guard as provider_guard
    from cityhub.identity.deps import require_provider as require_provider
    from cityhub.identity.deps import require_staff_role as require_staff_role
    from cityhub.identity.deps import set_session_cookie as set_session_cookie
    from cityhub.identity.deps import staff_caller_for_token as staff_caller_for_token


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
