"""The identity domain's part in the hub's housekeeping: ended console sessions go."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity.models import StaffSession
from cityhub.platform import housekeeping


@housekeeping.purges("staff_sessions")
async def purge_staff_sessions(*, session: AsyncSession, now: dt.datetime) -> int:
    """Delete the console sessions that ended by `now`."""
    result = await session.execute(delete(StaffSession).where(StaffSession.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
