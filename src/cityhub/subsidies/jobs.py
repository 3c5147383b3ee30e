"""The subsidies' recurring job: unused claims past their time go back to the budget."""

from __future__ import annotations

from typing import Any

from cityhub.platform.scheduler import JobContext, job
from cityhub.subsidies import claims


@job(
    "expire-subsidy-claims",
    cron="*/5 * * * *",
    description="return unused subsidy claims past their time to their campaigns' budgets",
)
async def expire_subsidy_claims(ctx: JobContext) -> dict[str, Any]:
    """Each claim expires once however often this runs."""
    async with ctx.db.unit_of_work() as session:
        expired = await claims.expire(
            session=session, city_id=ctx.require_city().id, now=ctx.due_at
        )
    return {"expired": expired}
