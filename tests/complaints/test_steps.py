"""Every step of a complaint is stored in its history, audited, told to the channel by webhook
and to the resident behind the channel's user by a notice in their inbox: filed, assigned by
the hub, reassigned, escalated by staff or by the job, resolved by staff or by the hub's own
refund. The staff's steps are the console's forms (CSRF, roles, their provider only)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cityhub.complaints.models import Complaint, ComplaintEvent
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import ChannelUser, Role
from cityhub.notices.models import Notice, NoticeRecipient
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.scheduler import JobRegistry, Scheduler, load_jobs
from tests.billing.factories import PayWorld, events, pay_world
from tests.client import Api
from tests.complaints.factories import file, paid, paid_again
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, create_staff
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim
from tests.web.browser import Browser, Page


async def _resident(world: PayWorld, user_id: str = "u-1") -> int:
    """The channel registers its user with the hub: the person the notices go to."""
    await world.channel.post("/v1/residents", json={"user_id": user_id}, expect=201)
    async with world.db.unit_of_work() as session:
        found = await session.scalar(
            select(ChannelUser.resident_id).where(
                ChannelUser.channel_id == world.login.channel.id,
                ChannelUser.channel_user_id == user_id,
            )
        )
        assert found is not None
        return int(found)


async def _told_resident(db: Database, resident_id: int, public_id: str) -> list[str]:
    """The templates of the resident's notices about the complaint, oldest first."""
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(Notice.template)
            .join(NoticeRecipient, NoticeRecipient.notice_id == Notice.id)
            .where(
                NoticeRecipient.resident_id == resident_id,
                Notice.ref == f"complaint:{public_id}",
            )
            .order_by(Notice.id)
        )
        return list(rows.all())


async def _audited(db: Database, public_id: str) -> list[tuple[str, str]]:
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.actor_id)
            .where(AuditEntry.object_type == "complaint", AuditEntry.object_id == public_id)
            .order_by(AuditEntry.seq)
        )
        return [(a, b) for a, b in rows.all()]


async def _history(db: Database, public_id: str) -> list[tuple[str, str]]:
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Complaint).where(Complaint.public_id == public_id))
        assert row is not None
        found = await session.execute(
            select(ComplaintEvent.status, ComplaintEvent.actor)
            .where(ComplaintEvent.complaint_id == row.id)
            .order_by(ComplaintEvent.id)
        )
        return [(s.value, a) for s, a in found.all()]


def _webhooks(receiver: Receiver, public_id: str) -> list[str]:
    told = events(receiver.deliveries, "complaint.updated")
    return sorted(
        t["data"]["complaint"]["status"] for t in told if t["data"]["complaint"]["id"] == public_id
    )


async def _step(browser: Browser, city: str, number: str, step: str, **data: str) -> Page:
    """Send a step's form from the complaint's console page (303 back to the page)."""
    url = f"/console/c/{city}/complaints/{number}"
    page = await browser.get(url)
    form = page.form(f"{url}/{step}")
    expect = int(data.pop("expect", "303"))
    return await browser.post(f"{url}/{step}", data={**form.fields, **data}, expect=expect)


async def test_every_step_is_in_the_history_audited_told_to_the_channel_and_the_resident(
    api: Api,
    db: Database,
    sim: Sim,
    settings: Settings,
    receiver: Receiver,
    browser: Browser,
    hub_clock: Clock,
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    resident = await _resident(world)
    payment = await paid(world, settings)
    city = world.city.slug
    await create_staff(db, city=world.city, username="boss", role=Role.CITY_ADMIN)
    await create_staff(db, city=world.city, username="clerk", role=Role.PROVIDER_STAFF,
                       provider=world.services["water"].provider)  # fmt: skip
    await browser.sign_in("boss", PASSWORD)

    # Filed, assigned by the hub; reassigned by staff; escalated by staff; resolved by staff.
    one = await file(world, type="wrong_amount", payment_id=payment["id"])
    await _step(browser, city, one["id"], "assign", assignee="clerk")
    await _step(browser, city, one["id"], "escalate", note="no answer from the biller")
    await _step(browser, city, one["id"], "resolve", resolution="42 refunded on the 3rd")
    assert await _history(db, one["id"]) == [
        ("logged", f"channel:{world.login.channel.slug}"),
        ("assigned", "system:hub"),
        ("assigned", "staff:boss"),
        ("escalated", "staff:boss"),
        ("resolved", "staff:boss"),
    ]
    assert [a for a, _ in await _audited(db, one["id"])] == [
        "complaint.logged", "complaint.assigned", "complaint.assigned", "complaint.escalated",
        "complaint.resolved",
    ]  # fmt: skip
    assert await _told_resident(db, resident, one["id"]) == [
        "complaint-logged", "complaint-assigned", "complaint-assigned", "complaint-escalated",
        "complaint-resolved",
    ]  # fmt: skip
    shown = await world.channel.get(world.url(f"/complaints/{one['id']}"))
    assert (shown["assigned_to"], shown["resolution"]) == ("staff:clerk", "42 refunded on the 3rd")

    # Escalated by the job, past its deadline.
    two = await file(world, type="service", service="water", user_id="u-1")
    move_past(hub_clock, dt.datetime.fromisoformat(two["due_at"]))
    jobs = JobRegistry()
    jobs.jobs["escalate-complaints"] = load_jobs().jobs["escalate-complaints"]
    await Scheduler(db, settings, jobs=jobs).run_due()
    hub_clock.advance(minutes=30)  # the job's next run is due after the deadline
    await Scheduler(db, settings, jobs=jobs).run_due()
    assert [s for s, _ in await _history(db, two["id"])] == ["logged", "assigned", "escalated"]
    assert await _audited(db, two["id"]) == [
        ("complaint.logged", world.login.channel.slug), ("complaint.assigned", "hub"),
        ("complaint.escalated", "hub"),
    ]  # fmt: skip
    assert (await _told_resident(db, resident, two["id"]))[-1] == "complaint-escalated"

    # Resolved by the hub: the ledger shows the bill paid twice.
    await paid_again(db, payment["id"])
    three = await file(world, type="paid_twice", payment_id=payment["id"])
    assert [s for s, _ in await _history(db, three["id"])] == ["logged", "resolved"]
    assert [a for a, _ in await _audited(db, three["id"])] == [
        "complaint.logged", "complaint.resolved",
    ]  # fmt: skip
    assert await _told_resident(db, resident, three["id"]) == [
        "complaint-logged", "complaint-refunded",
    ]  # fmt: skip

    await drain(db, settings)
    assert _webhooks(receiver, one["id"]) == sorted(
        ["logged", "assigned", "assigned", "escalated", "resolved"]
    )
    assert _webhooks(receiver, two["id"]) == sorted(["logged", "assigned", "escalated"])
    assert _webhooks(receiver, three["id"]) == sorted(["logged", "resolved"])


async def test_a_complaint_of_nobody_the_hub_knows_is_told_to_the_channel_only(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    made = await file(world, type="service", service="gas", user_id="stranger")
    async with db.unit_of_work() as session:
        refs = await session.scalars(select(Notice.ref).where(Notice.ref.like("complaint:%")))
        assert list(refs) == []
    await drain(db, settings)
    assert _webhooks(receiver, made["id"]) == ["assigned", "logged"]


async def test_the_consoles_steps_are_refused_to_whom_they_do_not_belong_and_write_nothing(
    api: Api, db: Database, sim: Sim, settings: Settings, browser: Browser
) -> None:
    world = await pay_world(db, api, sim)
    payment = await paid(world, settings)
    city = world.city.slug
    made = await file(world, type="debited_not_credited", payment_id=payment["id"])
    url = f"/console/c/{city}/complaints/{made['id']}"
    await create_staff(db, city=world.city, username="gas-clerk", role=Role.PROVIDER_STAFF,
                       provider=world.services["gas"].provider)  # fmt: skip
    await create_staff(db, city=world.city, username="reader", role=Role.AUDITOR)
    await create_staff(db, city=world.city, username="boss", role=Role.CITY_ADMIN)
    await create_staff(db, city=world.city, username="water-clerk", role=Role.PROVIDER_STAFF,
                       provider=world.services["water"].provider)  # fmt: skip

    # Another provider's staff: no such complaint, to read or to decide.
    await browser.sign_in("gas-clerk", PASSWORD)
    await browser.get(url, expect=404)
    assert made["id"] not in (await browser.get(f"/console/c/{city}/complaints")).text
    # An auditor reads, and has no form to decide (a hand-made post is refused).
    browser.client.cookies.clear()
    await browser.sign_in("reader", PASSWORD)
    page = await browser.get(url)
    assert made["id"] in page.text and not [f for f in page.forms if f.method == "post"
                                            and f.action.startswith(url)]  # fmt: skip
    csrf = (await browser.sign_out_form()).fields["csrf_token"]
    await browser.post(f"{url}/resolve", data={"csrf_token": csrf, "resolution": "x"},
                       expect=403)  # fmt: skip
    # The biller's own staff: a forged form is refused; a bad step says why on the page.
    browser.client.cookies.clear()
    await browser.sign_in("water-clerk", PASSWORD)
    await browser.post(f"{url}/resolve", data={"csrf_token": "forged", "resolution": "x"},
                       expect=403)  # fmt: skip
    refused = await _step(browser, city, made["id"], "assign", assignee="gas-clerk", expect="422")
    assert 'data-testid="step-error"' in refused.response.text
    refused = await _step(browser, city, made["id"], "assign", assignee="nobody", expect="422")
    refused = await _step(browser, city, made["id"], "escalate", note="  ", expect="422")
    assert [s for s, _ in await _history(db, made["id"])] == ["logged", "assigned"]
    await _step(browser, city, made["id"], "assign", assignee="boss")  # a city admin may answer
    await _step(browser, city, made["id"], "resolve", resolution="credited on the 3rd")
    page = await browser.get(url)
    assert not [f for f in page.forms if f.action.startswith(url)]  # resolved: nothing to do
    closed = await browser.post(f"{url}/escalate", data={
        "csrf_token": (await browser.sign_out_form()).fields["csrf_token"], "note": "late",
    }, expect=409)  # fmt: skip
    assert 'data-testid="step-error"' in closed.response.text
    assert [s for s, _ in await _history(db, made["id"])] == [
        "logged", "assigned", "assigned", "resolved",
    ]  # fmt: skip


async def test_the_console_lists_complaints_by_status_type_and_overdue(
    api: Api, db: Database, sim: Sim, settings: Settings, browser: Browser, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    payment = await paid(world, settings)
    city = world.city.slug
    slow = await file(world, type="service", service="gas")  # 7 days
    quick = await file(world, type="paid_twice", payment_id=payment["id"])  # not proven: 1 day
    await create_staff(db, city=world.city, username="boss", role=Role.CITY_ADMIN)
    move_past(hub_clock, dt.datetime.fromisoformat(quick["due_at"]))  # the job has not run
    await browser.sign_in("boss", PASSWORD)
    base = f"/console/c/{city}/complaints"

    async def shown(**params: str) -> list[str]:
        page = await browser.get(base, params=params)
        return [n for n in (slow["id"], quick["id"]) if n in page.text]

    assert await shown() == [slow["id"], quick["id"]]
    assert await shown(type="paid_twice") == [quick["id"]]
    assert await shown(overdue="1") == [quick["id"]]
    assert await shown(status="resolved") == []
    await _step(browser, city, slow["id"], "resolve", resolution="fixed")
    assert await shown(status="resolved") == [slow["id"]]
    await browser.get(base, params={"status": "nonsense"}, expect=400)
    page = await browser.get(f"{base}/{quick['id']}")
    assert "重复缴费" in page.text and "已超时" in page.text  # in the reader's language
