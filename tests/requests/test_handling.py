"""Handling: the department triages, assigns, notes, holds, resolves and closes; the
resident reopens and rates; every step audited and told to the resident through notices;
an overdue request escalated once by the scheduled job."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from cityhub.identity.audit import AuditEntry
from cityhub.outbox.models import OutboxEvent
from cityhub.platform.scheduler import JobRegistry, Scheduler, load_jobs
from cityhub.requests.models import RequestEvent
from tests.requests.factories import RequestWorld


async def inbox(world: RequestWorld, user_id: str) -> list[dict[str, Any]]:
    found = await world.channel.get(f"/v1/residents/{user_id}/notices")
    return list(found["items"])


async def audited(world: RequestWorld, public_id: str) -> list[str]:
    async with world.db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "service_request", AuditEntry.object_id == public_id)
            .order_by(AuditEntry.seq)
        )
        return list(rows)


async def test_a_report_is_handled_to_closure_reopened_and_rated(world: RequestWorld) -> None:
    await world.resident("u-1")
    made = await world.report(user_id="u-1")
    rid = made["id"]
    queue = (await world.member.get(world.url("/requests")))["items"]
    assert [r["id"] for r in queue] == [rid]
    assert (await world.outsider.get(world.url("/requests")))["items"] == []
    await world.outsider.get(world.url(f"/requests/{rid}"), expect=404)
    await world.step(rid, "resolve", note="too soon", expect=409)

    await world.step(rid, "triage", note="We will send a crew")
    await world.step(rid, "assign", assignee=world.member_name)
    await world.step(rid, "notes", note="Crew 7, cable fault suspected", public=False)
    await world.step(rid, "notes", note="The crew is on its way", public=True)
    held = await world.step(rid, "hold", note="Waiting for a spare part")
    assert held["status"] == "on_hold"
    resumed = await world.step(rid, "resume", note="The part arrived")
    assert resumed["status"] == "assigned" and resumed["due_at"] >= made["due_at"]
    resolved = await world.step(rid, "resolve", note="Lamp replaced")
    assert resolved["status"] == "resolved" and resolved["resolved_at"]

    seen = await world.channel.get(world.url(f"/requests/{rid}"))
    kinds = [e["kind"] for e in seen["timeline"]]
    assert kinds == ["submitted", "triaged", "note", "held", "resumed", "resolved"]
    assert "Crew 7" not in str(seen)  # internal notes stay with staff
    staff_view = await world.member.get(world.url(f"/requests/{rid}"))
    assert "Crew 7, cable fault suspected" in [e["note"] for e in staff_view["timeline"]]

    reopened = await world.channel.post(
        world.url(f"/requests/{rid}/reopen"),
        json={"user_id": "u-1", "note": "Off again tonight"},
        expect=200,
    )
    assert reopened["status"] == "submitted" and reopened["reopened"] == 1
    await world.step(rid, "triage", note="Looking again")
    await world.step(rid, "resolve", note="Cable replaced")
    closed = await world.step(rid, "close", note="Checked at night", who=world.head)
    assert closed["status"] == "closed"
    rated = await world.channel.post(
        world.url(f"/requests/{rid}/rating"),
        json={"user_id": "u-1", "rating": 4, "note": "Quick second time"},
        expect=200,
    )
    assert rated["rating"] == 4
    await world.channel.post(
        world.url(f"/requests/{rid}/rating"), json={"user_id": "u-1", "rating": 5}, expect=409
    )
    await world.resident("u-other")
    await world.channel.post(
        world.url(f"/requests/{rid}/reopen"),
        json={"user_id": "u-other", "note": "not mine"},
        expect=403,
    )

    notices = await inbox(world, "u-1")
    # Told of: submitted is not a notice; triaged x2, public note, held, resumed, resolved x2,
    # closed (internal notes, assignment and the resident's own reopen and rating are not).
    assert len(notices) == 8
    assert all(rid in n["title"] for n in notices)
    actions = await audited(world, rid)
    assert actions[0] == "request.submitted" and actions[-1] == "request.rated"
    assert {"request.assigned", "request.note", "request.reopened", "request.closed"} <= set(
        actions
    )


async def test_transfer_moves_the_request_to_the_other_department(world: RequestWorld) -> None:
    rid = (await world.report())["id"]
    moved = await world.step(rid, "transfer", department="parks", note="A park lamp")
    assert moved["department"] == "parks" and moved["status"] == "submitted"
    await world.member.get(world.url(f"/requests/{rid}"), expect=404)
    assert (await world.admin.get(world.url(f"/requests/{rid}")))["department"] == "parks"
    problem = await world.step(rid, "transfer", who=world.admin, department="moon", note="x",
                               expect=404)  # fmt: skip
    assert problem["field"] == "department"


async def test_a_duplicate_is_merged_and_its_reporter_follows_the_original(
    world: RequestWorld,
) -> None:
    await world.resident("u-3")
    original = (await world.report())["id"]
    duplicate = (await world.report(user_id="u-3"))["id"]
    merged = await world.step(duplicate, "merge", into=original)
    assert merged["status"] == "merged" and merged["merged_into"] == original
    await world.step(original, "triage", note="On it")
    titles = [n["title"] for n in await inbox(world, "u-3")]
    assert any(original in t for t in titles)


@dataclass
class Clock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


async def test_an_overdue_request_is_escalated_once(world: RequestWorld) -> None:
    made = await world.report()
    jobs = JobRegistry()
    jobs.jobs["escalate-requests"] = load_jobs().jobs["escalate-requests"]
    due = dt.datetime.fromisoformat(made["due_at"])
    clock = Clock(due + dt.timedelta(minutes=20))
    await Scheduler(world.db, world.settings, jobs=jobs, clock=clock).run_due()
    clock.now += dt.timedelta(minutes=30)
    await Scheduler(world.db, world.settings, jobs=jobs, clock=clock).run_due()
    clock.now += dt.timedelta(days=3)
    await Scheduler(world.db, world.settings, jobs=jobs, clock=clock).run_due()
    async with world.db.unit_of_work() as session:
        escalations = await session.scalar(
            select(func.count()).select_from(RequestEvent).where(RequestEvent.kind == "escalated")
        )
        events = list(
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.topic == "request.escalated")
            )
        )
    assert escalations == 1
    assert len(events) == 1 and events[0].payload["request"] == made["id"]
    assert events[0].payload["head"] is not None
    seen = await world.head.get(world.url(f"/requests/{made['id']}"))
    assert seen["escalated"] is True
    board = await world.head.get(world.url("/request-board"))
    roads = next(d for d in board["departments"] if d["department"] == "roads")
    assert roads["open"] == 1 and roads["escalated"] == 1


async def test_a_request_not_yet_due_is_not_escalated(world: RequestWorld) -> None:
    made = await world.report()
    jobs = JobRegistry()
    jobs.jobs["escalate-requests"] = load_jobs().jobs["escalate-requests"]
    due = dt.datetime.fromisoformat(made["due_at"])
    await Scheduler(
        world.db, world.settings, jobs=jobs, clock=Clock(due - dt.timedelta(hours=1))
    ).run_due()
    seen = await world.head.get(world.url(f"/requests/{made['id']}"))
    assert seen["escalated"] is False
