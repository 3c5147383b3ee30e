"""The notices' recurring job: each morning, remind residents of bills falling due."""

from __future__ import annotations

from typing import Any

from cityhub.notices import hooks
from cityhub.platform.scheduler import JobContext, job

BILL_REMINDER_DAYS = 3


@job(
    "remind-bills",
    cron="0 9 * * *",
    description=f"remind residents of unpaid bills due in {BILL_REMINDER_DAYS} days",
)
async def remind_bills(ctx: JobContext) -> dict[str, Any]:
    """Each reminder goes once however often this runs (its notice is keyed)."""
    async with ctx.db.unit_of_work() as session:
        sent = await hooks.remind_bills(
            session=session,
            settings=ctx.settings,
            city=ctx.require_city(),
            days=BILL_REMINDER_DAYS,
            now=ctx.due_at,
        )
    return {"sent": sent}
