"""Complaints: a channel files and follows its own; each change stored, audited and told by
webhook; the biller's staff resolve them; the job escalates those past their deadline; a bill
the ledger shows paid twice is refunded by the hub, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import Role
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.scheduler import JobRegistry, Scheduler, load_jobs
from tests.billing.factories import balances, events, ledger_ok, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.complaints.factories import file, paid, paid_again
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, create_channel, create_staff
from tests.outbox_helpers import Receiver, drain
from tests.simulators.fixtures import Sim
from tests.web.browser import Browser


async def _audited(db: Database, public_id: str) -> list[str]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "complaint", AuditEntry.object_id == public_id)
            .order_by(AuditEntry.seq)
        )
        return list(rows.all())


def _statuses(complaint: dict[str, Any]) -> list[str]:
    return [h["status"] for h in complaint["history"]]


async def test_a_complaint_is_logged_assigned_to_the_biller_and_only_its_channel_sees_it(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    payment = await paid(world, settings)
    made = await file(world, type="wrong_amount", payment_id=payment["id"], key="c-1")
    assert (made["status"], made["service"], made["payment_id"]) == (
        "assigned", "water", payment["id"],
    )  # fmt: skip
    assert made["assigned_to"] == "provider:water company"
    assert _statuses(made) == ["logged", "assigned"]
    assert [h["actor"] for h in made["history"]] == [
        f"channel:{world.login.channel.slug}", "system:hub",
    ]  # fmt: skip
    created = dt.datetime.fromisoformat(made["created_at"])
    assert dt.datetime.fromisoformat(made["due_at"]) - created == dt.timedelta(days=5)
    again = await file(world, type="wrong_amount", payment_id=payment["id"], key="c-1")
    assert again["id"] == made["id"]  # a retry is the same complaint

    about = await file(world, type="service", service="power", user_id="u-9")
    assert (about["status"], about["payment_id"], about["user_id"]) == ("assigned", None, "u-9")
    mine = await world.channel.get(world.url("/complaints"))
    assert [c["id"] for c in mine["items"]] == [about["id"], made["id"]]
    assert mine["next_cursor"] is None
    shown = await world.channel.get(world.url(f"/complaints/{made['id']}"))
    assert shown["id"] == made["id"]

    other_login = await create_channel(db)
    await create_grant(db, channel=other_login.channel, service=world.services["water"])
    other = await api.as_channel(other_login.client_id, other_login.secret)
    assert (await other.get(world.url("/complaints")))["items"] == []
    problem = await other.get(world.url(f"/complaints/{made['id']}"), expect=404)
    assert problem["code"] == "complaint_not_found"
    problem = await file(world, type="paid_twice", payment_id=payment["id"], channel=other,
                         expect=404)  # fmt: skip
    assert problem["code"] == "payment_not_found"  # not another channel's payment

    await drain(db, settings)
    told = events(receiver.deliveries, "complaint.updated")
    assert sorted(  # delivered in any order
        (t["data"]["complaint"]["id"], t["data"]["complaint"]["status"]) for t in told
    ) == sorted([
        (made["id"], "logged"), (made["id"], "assigned"),
        (about["id"], "logged"), (about["id"], "assigned"),
    ])  # fmt: skip
    assert await _audited(db, made["id"]) == ["complaint.logged", "complaint.assigned"]


async def test_bad_complaints_are_refused_and_nothing_is_written(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    problem = await file(world, type="paid_twice", expect=422)  # no payment named
    assert problem["status"] == 422
    problem = await file(world, type="service", service="water", payment_id="pay_x", expect=422)
    assert problem["status"] == 422
    problem = await file(world, type="service", service="nope", expect=404)
    assert problem["code"] == "service_not_found"
    bill = world.unpaid()[0]
    await world.look_up(bill)
    quoted = await world.quote(bill)
    problem = await file(world, type="debited_not_credited", payment_id=quoted["id"], expect=409)
    assert problem["code"] == "complaint_payment_not_charged"
    assert (await world.channel.get(world.url("/complaints")))["items"] == []


async def test_the_billers_staff_resolve_once_and_another_provider_cannot(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    payment = await paid(world, settings)
    made = await file(world, type="debited_not_credited", payment_id=payment["id"])
    decision = world.url(f"/complaints/{made['id']}/decision")
    body = {"resolution": "credited on our side on the 3rd"}
    about_gas = await file(world, type="service", service="gas")
    stranger = await world.staff(Role.PROVIDER_STAFF, provider="power")
    problem = await stranger.post(decision, json=body, expect=404)
    assert problem["code"] == "complaint_not_found"
    problem = await stranger.get(world.url(f"/complaints/{made['id']}"), expect=404)
    assert problem["code"] == "complaint_not_found"
    assert (await stranger.get(world.url("/complaints")))["items"] == []
    biller = await world.staff(Role.PROVIDER_STAFF, provider="water")
    queue = await biller.get(world.url("/complaints"), params={"status": "assigned"})
    assert [c["id"] for c in queue["items"]] == [made["id"]]  # not the gas company's
    auditor = await world.staff(Role.AUDITOR)
    seen = await auditor.get(world.url("/complaints"))
    assert [c["id"] for c in seen["items"]] == [about_gas["id"], made["id"]]
    await auditor.post(decision, json=body, expect=403)  # auditors read, never decide
    done = await biller.post(decision, json=body, expect=200)
    assert (done["status"], done["resolution"]) == ("resolved", body["resolution"])
    assert _statuses(done) == ["logged", "assigned", "resolved"]
    admin = await world.staff()
    problem = await admin.post(decision, json=body, expect=409)
    assert problem["code"] == "complaint_closed"
    assert (await world.channel.get(world.url(f"/complaints/{made['id']}")))["status"] == (
        "resolved"
    )
    await drain(db, settings)
    told = events(receiver.deliveries, "complaint.updated")
    assert sorted(
        t["data"]["complaint"]["status"] for t in told if t["data"]["complaint"]["id"] == made["id"]
    ) == ["assigned", "logged", "resolved"]
    assert (await _audited(db, made["id"]))[-1] == "complaint.resolved"


async def test_the_job_escalates_open_complaints_past_their_deadline_once(
    api: Api, db: Database, sim: Sim, settings: Settings, hub_clock: Clock
) -> None:
    world = await pay_world(db, api, sim)
    payment = await paid(world, settings)
    quick = await file(world, type="paid_twice", payment_id=payment["id"])  # not proven: 1 day
    slow = await file(world, type="service", service="gas")  # 7 days
    settled = await file(world, type="wrong_amount", payment_id=payment["id"])
    admin = await world.staff()
    await admin.post(world.url(f"/complaints/{settled['id']}/decision"),
                     json={"resolution": "right amount"}, expect=200)  # fmt: skip
    jobs = JobRegistry()
    jobs.jobs["escalate-complaints"] = load_jobs().jobs["escalate-complaints"]
    move_past(hub_clock, dt.datetime.fromisoformat(settled["due_at"]))  # 5 days on
    await Scheduler(db, settings, jobs=jobs).run_due()
    hub_clock.advance(minutes=30)
    await Scheduler(db, settings, jobs=jobs).run_due()

    seen = {c["id"]: c for c in (await world.channel.get(world.url("/complaints")))["items"]}
    assert _statuses(seen[quick["id"]]) == ["logged", "assigned", "escalated"]
    assert seen[slow["id"]]["status"] == "assigned"  # its 7 days are not over
    assert seen[settled["id"]]["status"] == "resolved"  # a resolved one stays so
    # An escalated complaint still reaches its biller, who may resolve it.
    admin = await world.staff()  # signed in again: five days passed
    done = await admin.post(world.url(f"/complaints/{quick['id']}/decision"),
                            json={"resolution": "checked"}, expect=200)  # fmt: skip
    assert _statuses(done)[-1] == "resolved"
    assert "complaint.escalated" in await _audited(db, quick["id"])


async def test_a_bill_paid_twice_is_refunded_by_the_hub_once_even_filed_twice(
    api: Api, db: Database, sim: Sim, settings: Settings, receiver: Receiver
) -> None:
    world = await pay_world(db, api, sim, webhook_url=receiver.url)
    first = await paid(world, settings)
    second = await paid_again(db, first["id"])
    before = await balances(db, world.city)
    made = await file(world, type="paid_twice", payment_id=first["id"])
    assert (made["status"], made["assigned_to"]) == ("resolved", None)
    assert made["refund_id"].startswith("rf_") and second in made["resolution"]
    assert _statuses(made) == ["logged", "resolved"]
    again = await file(world, type="paid_twice", payment_id=second)  # filed on the other one
    assert (again["status"], again["refund_id"]) == ("resolved", made["refund_id"])
    assert (await world.get(second))["refunded_fen"] == first["amount_fen"]
    assert (await world.get(first["id"]))["refunded_fen"] == 0
    after = await balances(db, world.city)
    assert before != after
    await drain(db, settings)
    refunds = events(receiver.deliveries, "refund.succeeded")
    assert [r["data"]["refund"]["id"] for r in refunds] == [made["refund_id"]]
    await ledger_ok(db)


async def test_a_paid_twice_complaint_the_ledger_does_not_prove_goes_to_the_biller(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    once = await paid(world, settings)  # paid once only
    made = await file(world, type="paid_twice", payment_id=once["id"])
    assert (made["status"], made["refund_id"]) == ("assigned", None)
    bill = world.unpaid()[0]
    await world.look_up(bill)
    anonymous = await world.confirm(await world.quote(bill))  # no user_id: proves nothing
    await drain(db, settings)
    await paid_again(db, anonymous["id"])
    made = await file(world, type="paid_twice", payment_id=anonymous["id"])
    assert (made["status"], made["refund_id"]) == ("assigned", None)
    assert (await world.get(once["id"]))["refunded_fen"] == 0


async def test_a_paid_twice_complaint_filed_at_once_many_times_refunds_once(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    first = await paid(world, settings)
    second = await paid_again(db, first["id"])

    async def one(payment_id: str) -> Any:
        body = {"type": "paid_twice", "payment_id": payment_id, "description": "twice"}
        headers = {**world.channel.headers, "Idempotency-Key": uuid.uuid4().hex}
        return await world.channel.client.post(world.url("/complaints"), json=body,
                                               headers=headers)  # fmt: skip

    answers = await asyncio.gather(*(one(p) for p in [first["id"], second] * 3))
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    made = [a.json() for a in answers]
    assert {m["status"] for m in made} == {"resolved"}
    assert len({m["refund_id"] for m in made}) == 1
    assert (await world.get(second))["refunded_fen"] == first["amount_fen"]
    await ledger_ok(db)


async def test_the_console_shows_complaints_to_whom_they_belong(
    api: Api, db: Database, sim: Sim, settings: Settings, browser: Browser
) -> None:
    world = await pay_world(db, api, sim)
    payment = await paid(world, settings)
    made = await file(world, type="wrong_amount", payment_id=payment["id"])
    about_gas = await file(world, type="service", service="gas")
    await create_staff(db, city=world.city, username="water-clerk", role=Role.PROVIDER_STAFF,
                       provider=world.services["water"].provider)  # fmt: skip
    await browser.sign_in("water-clerk", PASSWORD)
    page = await browser.get(f"/console/c/{world.city.slug}/complaints")
    assert made["id"] in page.text and about_gas["id"] not in page.text
    assert "water company" in page.text and "金额有误" in page.text  # the biller, the type
    await create_staff(db, city=world.city, username="auditor", role=Role.AUDITOR)
    browser.client.cookies.clear()  # another member signs in on this browser
    await browser.sign_in("auditor", PASSWORD)
    page = await browser.get(f"/console/c/{world.city.slug}/complaints")
    assert made["id"] in page.text and about_gas["id"] in page.text
