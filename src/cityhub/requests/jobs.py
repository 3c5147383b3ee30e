"""The requests' recurring job: flag requests nearing their deadline, escalate overdue ones."""

from __future__ import annotations

from typing import Any

from cityhub.platform.scheduler import JobContext, job
from cityhub.requests import sla


@job(
    "escalate-requests",
    cron="*/15 * * * *",
    description="flag service requests nearing their deadline, escalate overdue ones once",
)
async def escalate_requests(ctx: JobContext) -> dict[str, Any]:
    """Each request is escalated once however often this runs."""
    async with ctx.db.unit_of_work() as session:
        return await sla.escalate(session=session, city=ctx.require_city(), now=ctx.due_at)
