"""The hub's housekeeping: the purge-sessions job deletes what each domain says has ended
(console sessions, portal sessions, sign-in codes) and keeps what is still live."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from cityhub.identity.enums import Role
from cityhub.identity.models import Resident, StaffSession
from cityhub.platform.config import Settings
from cityhub.platform.db import Database, utcnow
from cityhub.platform.scheduler import JobContext, load_jobs
from cityhub.web.models import ResidentSession, SignInCode
from tests.identity.factories import create_staff


async def test_purge_sessions_deletes_what_ended_and_keeps_what_is_live(
    db: Database, settings: Settings
) -> None:
    now = utcnow()
    ended, live = now - dt.timedelta(minutes=1), now + dt.timedelta(hours=1)
    staff = await create_staff(db, role=Role.OPERATOR)
    async with db.unit_of_work() as session:
        resident = Resident()
        session.add(resident)
        await session.flush()
        for n, expires_at in enumerate((ended, live)):
            session.add(
                StaffSession(
                    token_hash=f"s{n}", staff_id=staff.id, csrf_token="c", expires_at=expires_at
                )
            )
            session.add(
                ResidentSession(
                    token_hash=f"r{n}",
                    resident_id=resident.id,
                    channel_user_id="u",
                    expires_at=expires_at,
                )
            )
            session.add(
                SignInCode(
                    phone_hash="p",
                    client_hash="c",
                    phone_enc=b"x",
                    code_hash="h",
                    attempts_left=3,
                    expires_at=expires_at,
                )
            )
    job = load_jobs().get_or_raise("purge-sessions")
    outcome = await job.fn(JobContext(db, settings, None, now, ZoneInfo("UTC")))
    assert outcome == {"staff_sessions": 1, "portal_sessions": 1, "sign_in_codes": 1}
    async with db.unit_of_work() as session:
        for table in (StaffSession, ResidentSession, SignInCode):
            left = await session.scalar(select(func.count()).select_from(table))
            assert left == 1, table.__name__
