"""The hub's own recurring jobs: forget what has served its time (expired idempotency keys,
ended sessions and sign-in codes, carried-out outbox events, old job runs).

What a session or a code is, is its domain's: each names its purge here (`purges`), from the
modules the scheduler loads (`identity/jobs.py`, `web/jobs.py`), so the platform reads no
domain's tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import delete

from cityhub.outbox import admin as outbox_admin
from cityhub.platform import idempotency
from cityhub.platform.job_models import JobRun
from cityhub.platform.scheduler import JobContext, job

JOB_RUNS_KEPT = dt.timedelta(days=30)
BATCHES = 1000  # at most this many batches of deletions per run: the rest waits for the next


Purge = Callable[..., Awaitable[int]]  # (*, session, now) -> how many rows went
_purges: dict[str, Purge] = {}


def _count(result: object) -> int:
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purges(what: str) -> Callable[[Purge], Purge]:
    """Decorator: the function deletes what ended by `now` (sessions, codes); the
    `purge-sessions` job calls it and reports its count under `what`."""

    def register(fn: Purge) -> Purge:
        _purges[what] = fn
        return fn

    return register


@job(
    "purge-idempotency-keys",
    cron="15 * * * *",
    per_city=False,
    description="forget Idempotency-Keys past their retention",
)
async def purge_idempotency_keys(ctx: JobContext) -> dict[str, Any]:
    """Keys older than the retention (48 hours) go."""
    async with ctx.db.unit_of_work() as session:
        return {"deleted": await idempotency.purge_expired(session=session)}


@job(
    "purge-sessions",
    cron="20 * * * *",
    per_city=False,
    description="delete ended console and portal sessions and expired sign-in codes",
)
async def purge_sessions(ctx: JobContext) -> dict[str, Any]:
    """What no cookie can use any more."""
    async with ctx.db.unit_of_work() as session:
        return {what: await fn(session=session, now=ctx.due_at) for what, fn in _purges.items()}


@job(
    "prune-outbox",
    cron="0 4 * * *",
    per_city=False,
    description="delete outbox events carried out long ago, and old job runs",
)
async def prune_outbox(ctx: JobContext) -> dict[str, Any]:
    """Events done more than CITYHUB_OUTBOX_KEEP_DAYS ago, in batches of a transaction each."""
    before = ctx.due_at - dt.timedelta(days=ctx.settings.outbox_keep_days)
    events = 0
    for _ in range(BATCHES):
        async with ctx.db.unit_of_work() as session:
            deleted = await outbox_admin.prune(session=session, before=before)
        events += deleted
        if not deleted:
            break
    async with ctx.db.unit_of_work() as session:
        runs = await session.execute(
            delete(JobRun).where(
                JobRun.status == "done", JobRun.finished_at < ctx.due_at - JOB_RUNS_KEPT
            )
        )
    return {"events": events, "job_runs": _count(runs)}
