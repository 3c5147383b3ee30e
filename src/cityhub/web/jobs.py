"""The pages' part in the hub's housekeeping: ended portal sessions and expired sign-in codes
go."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform import housekeeping
from cityhub.web.models import ResidentSession, SignInCode


@housekeeping.purges("portal_sessions")
async def purge_portal_sessions(*, session: AsyncSession, now: dt.datetime) -> int:
    """Delete the portal sessions that ended by `now`."""
    result = await session.execute(delete(ResidentSession).where(ResidentSession.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@housekeeping.purges("sign_in_codes")
async def purge_sign_in_codes(*, session: AsyncSession, now: dt.datetime) -> int:
    """Delete the sign-in codes that expired by `now`."""
    result = await session.execute(delete(SignInCode).where(SignInCode.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
