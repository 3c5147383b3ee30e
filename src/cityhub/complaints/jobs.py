"""The complaints' recurring job: escalate every complaint past its type's deadline."""

from __future__ import annotations

from typing import Any

from cityhub.complaints import service
from cityhub.platform.scheduler import JobContext, job


@job(
    "escalate-complaints",
    cron="*/15 * * * *",
    description="escalate complaints still open past their type's deadline, once each",
)
async def escalate_complaints(ctx: JobContext) -> dict[str, Any]:
    """Each complaint is escalated once however often this runs."""
    async with ctx.db.unit_of_work() as session:
        return await service.escalate(
            session=session, city_id=ctx.require_city().id, now=ctx.due_at
        )
