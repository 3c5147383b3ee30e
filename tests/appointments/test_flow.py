"""The booking flow through /v1: book, rules, fee through billing, cancel, waitlist, check-in."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cityhub import outbox
from cityhub.appointments import service
from cityhub.appointments.models import BookingStatus
from cityhub.billing.models import Payment, PaymentStatus
from cityhub.identity.models import Role
from cityhub.outbox import OutboxEvent
from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.appointments.factories import (
    CHINA,
    appt_world,
    expire_now,
    id_number,
    slot_counts,
    status_of,
    tomorrow,
    verified_users,
)
from tests.billing.factories import ledger_ok
from tests.client import Api
from tests.helpers import move_past
from tests.identity.factories import PASSWORD, create_staff
from tests.outbox_helpers import drain, invoke


async def test_a_free_session_is_booked_and_reminded_the_evening_before(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    # The day after tomorrow: the evening before is still ahead whatever the time of day now.
    day = tomorrow() + dt.timedelta(days=1)
    created = await world.session(places=2, day=day)
    slot = created["slots"][0]["id"]
    booking = await world.book(user, slot)
    assert booking["status"] == "booked" and booking["checkin_code"]
    assert (await slot_counts(db, slot)) == (1, 2)
    read = await world.channel.get(world.url(f"/sessions/{created['id']}"))
    assert read["left"] == 1
    async with db.unit_of_work() as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "appointment.reminder")
        )
        assert await service.booking_is_active(session, booking["id"])
    assert event is not None
    assert event.payload["booking"] == booking["id"]
    assert event.payload["city"] == world.city.slug
    assert set(event.payload) == {
        "city",
        "booking",
        "resident_id",
        "starts_at",
        "hospital",
        "department",
        "practitioner",
        "hospital_names",  # the reminder is read in the patient's language
        "department_names",
    }
    assert event.payload["hospital_names"]["en"] == event.payload["hospital"]
    # The evening before, 18:00 Shanghai time.
    local = event.available_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert (local.date(), local.hour) == (day - dt.timedelta(days=1), 18)
    qr = await world.channel.client.get(booking["checkin_url"], headers=world.channel.headers)
    assert qr.status_code == 200 and qr.text.startswith("<svg")


async def test_real_name_rules_refuse_clearly(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [user, other] = await verified_users(db, world.login, 2)
    first = await world.session(places=5, department="internal")
    second = await world.session(places=5, department="internal", period="afternoon")
    await world.book(user, first["slots"][0]["id"])
    again = await world.book(user, second["slots"][0]["id"], expect=409)
    assert again["code"] == "already_booked_that_day"
    # Unknown users, strangers' family members and other cities' slots.
    missing = await world.book("nobody", first["slots"][0]["id"], expect=404)
    assert missing["code"] == "resident_not_found"
    member = await world.channel.post(
        f"/v1/residents/{other}/family-members",
        json={"name": "张小明", "id_number": id_number(900_001), "relation": "child"},
    )
    foreign = await world.book(
        user, first["slots"][0]["id"], family_member=member["id"], expect=404
    )
    assert foreign["code"] == "family_member_not_found"
    mine = await world.book(other, first["slots"][0]["id"], family_member=member["id"])
    assert mine["family_member"] == member["id"]
    elsewhere = await appt_world(db, api, provider_id="other-hospital")
    far = await elsewhere.session(places=1)
    across = await world.book(user, far["slots"][0]["id"], expect=404)
    assert across["code"] == "slot_not_found"


async def test_a_hospital_asking_for_a_registry_check_refuses_a_vouched_resident(
    api: Api, db: Database
) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)  # channel_asserted
    made = await world.session(places=2)
    slot = made["slots"][0]["id"]
    changed = await world.staff.patch(
        f"/v1/cities/{world.city.slug}/services/{world.hospital.code}",
        json={"identity_level": "authority_checked"},
    )
    assert changed["identity_level"] == "authority_checked"
    refused = await world.book(user, slot, expect=403)
    assert (refused["code"], refused["level"], refused["required"]) == (
        "identity_level_required",
        "channel_asserted",
        "authority_checked",
    )
    joined = await world.channel.post(
        world.url(f"/sessions/{made['id']}/waitlist"), json={"user_id": user}, expect=403
    )
    assert joined["code"] == "identity_level_required"
    assert await slot_counts(db, slot) == (0, 2)  # nothing was taken
    await world.staff.patch(
        f"/v1/cities/{world.city.slug}/services/{world.hospital.code}",
        json={"identity_level": "channel_asserted"},
    )
    await world.book(user, slot)


async def test_the_window_and_the_cut_off(api: Api, db: Database) -> None:
    world = await appt_world(db, api)
    [user] = await verified_users(db, world.login, 1)
    later = await world.session(places=2, day=tomorrow() + dt.timedelta(days=20))
    early = await world.book(user, later["slots"][0]["id"], expect=409)
    assert early["code"] == "booking_not_open"
    await world.staff.patch(world.url("/rules"), json={"cancel_cutoff_minutes": 3 * 24 * 60})
    soon = await world.session(places=2)
    booking = await world.book(user, soon["slots"][0]["id"])
    late = await world.channel.post(
        world.url(f"/bookings/{booking['id']}/cancellation"), expect=409
    )
    assert late["code"] == "cancellation_closed"
    assert await status_of(db, booking["id"]) == BookingStatus.BOOKED


async def test_a_fee_holds_the_place_until_paid_through_billing(
    api: Api, db: Database, settings: Settings, hub_clock: Clock
) -> None:
    world = await appt_world(db, api)
    [user, late] = await verified_users(db, world.login, 2)
    created = await world.session(places=2, fee_fen=5000)
    slot = created["slots"][0]["id"]
    booking = await world.book(user, slot)
    assert booking["status"] == "held" and booking["fee"]["total_fen"] == 5000
    assert booking["checkin_code"] is None
    payment = booking["fee"]["payment"]
    body = {"channel_txn_id": "wx-1", "amount_fen": 5000, "currency": "CNY"}
    await world.channel.post(
        f"/v1/cities/{world.city.slug}/payments/{payment}/confirmation", json=body, expect=200
    )
    await drain(db, settings)
    paid = await world.channel.get(world.url(f"/bookings/{booking['id']}"))
    assert paid["status"] == "booked" and paid["fee"]["status"] == "completed"
    await ledger_ok(db)
    # A hold not paid in time is let go, and its quote can no longer be confirmed.
    unpaid = await world.book(late, slot)
    assert (await slot_counts(db, slot)) == (2, 2)
    await expire_now(db, unpaid["id"], hub_clock)
    await drain(db, settings)
    assert await status_of(db, unpaid["id"]) == BookingStatus.EXPIRED
    assert (await slot_counts(db, slot)) == (1, 2)
    refused = await world.channel.post(
        f"/v1/cities/{world.city.slug}/payments/{unpaid['fee']['payment']}/confirmation",
        json={**body, "channel_txn_id": "wx-2"},
        expect=409,
    )
    assert refused["code"] == "quote_expired"
    # Cancelling the paid booking refunds its fee.
    await world.channel.post(world.url(f"/bookings/{booking['id']}/cancellation"), expect=200)
    async with db.unit_of_work() as session:
        row = await session.scalar(select(Payment).where(Payment.public_id == payment))
    assert row is not None and row.status == PaymentStatus.REFUNDED
    await ledger_ok(db)


async def test_a_freed_place_goes_to_the_waitlist_in_order(
    api: Api, db: Database, settings: Settings, hub_clock: Clock
) -> None:
    world = await appt_world(db, api)
    [holder, first, second] = await verified_users(db, world.login, 3)
    created = await world.session(places=1)
    slot = created["slots"][0]["id"]
    booking = await world.book(holder, slot)
    full = await world.book(first, slot, expect=409)
    assert full["code"] == "slot_full"
    url = world.url(f"/sessions/{created['id']}/waitlist")
    one = await world.channel.post(url, json={"user_id": first})
    two = await world.channel.post(url, json={"user_id": second})
    assert (one["position"], two["position"]) == (1, 2)
    await world.channel.post(world.url(f"/bookings/{booking['id']}/cancellation"), expect=200)
    offered = await world.channel.get(world.url(f"/waitlist/{one['id']}"))
    assert offered["status"] == "offered" and offered["offer"]
    assert (await slot_counts(db, slot)) == (1, 1)  # the place is kept for the offer
    # The first lets the offer lapse: it passes to the second, who takes it.
    await expire_now(db, offered["offer"], hub_clock)
    await drain(db, settings)
    passed = await world.channel.get(world.url(f"/waitlist/{two['id']}"))
    assert passed["status"] == "offered"
    taken = await world.channel.post(
        world.url(f"/bookings/{passed['offer']}/acceptance"), expect=200
    )
    assert taken["status"] == "booked" and taken["user_id"] == second
    assert (await slot_counts(db, slot)) == (1, 1)


async def test_check_in_on_the_day_and_no_shows_block_after_the_limit(
    api: Api, db: Database, hub_clock: Clock
) -> None:
    world = await appt_world(db, api)
    [user, absent] = await verified_users(db, world.login, 2)
    await world.staff.patch(world.url("/rules"), json={"no_show_limit": 1})
    created = await world.session(places=2)
    here = await world.book(user, created["slots"][0]["id"])
    away = await world.book(absent, created["slots"][0]["id"])
    wrong_day = await world.staff.post(
        world.url("/check-ins"), json={"code": here["checkin_code"]}, expect=409
    )
    assert wrong_day["code"] == "wrong_day"
    today = dt.date.fromisoformat(created["day"])
    move_past(hub_clock, dt.datetime.combine(today, dt.time(9), CHINA))  # the session's day comes
    # The staff session of the day before has run out: the desk signs in that morning.
    desk = await create_staff(db, city=world.city, role=Role.CITY_ADMIN)
    world.staff = await api.as_staff(desk.username, PASSWORD)
    checked = await world.staff.post(
        world.url("/check-ins"), json={"code": here["checkin_code"]}, expect=200
    )
    assert checked["status"] == "checked_in"
    twice = await world.staff.post(
        world.url("/check-ins"), json={"code": here["checkin_code"]}, expect=409
    )
    assert twice["code"] == "not_checkable"
    unknown = await world.staff.post(world.url("/check-ins"), json={"code": "NOPE2345"}, expect=404)
    assert unknown["code"] == "booking_not_found"
    code, output = await invoke(
        db.url, "appointments", "no-shows", "--city", world.city.slug, "--date", today.isoformat()
    )
    assert code == 0, output
    assert "1 no-show" in output and "1 patient(s) blocked" in output
    assert await status_of(db, away["id"]) == BookingStatus.NO_SHOW
    assert await status_of(db, here["id"]) == BookingStatus.CHECKED_IN
    again = await world.session(places=2, day=tomorrow() + dt.timedelta(days=1))
    refused = await world.book(absent, again["slots"][0]["id"], expect=403)
    assert refused["code"] == "blocked_for_no_shows"
    assert (await world.book(user, again["slots"][0]["id"]))["status"] == "booked"


async def test_the_evening_before_a_booking_is_reminded_once_and_a_cancelled_one_not_at_all(
    api: Api, db: Database, settings: Settings, hub_clock: Clock
) -> None:
    world = await appt_world(db, api)
    [kept, dropped] = await verified_users(db, world.login, 2)
    created = await world.session(places=5)
    slot = created["slots"][0]["id"]
    booking = await world.book(kept, slot)
    cancelled = await world.book(dropped, slot)
    await world.channel.post(world.url(f"/bookings/{cancelled['id']}/cancellation"), expect=200)
    # The evening before has come (and the reminder was queued twice): the notices pillar
    # delivers the reminder events.
    async with db.unit_of_work() as session:
        first = await session.scalar(
            select(OutboxEvent).where(
                OutboxEvent.topic == "appointment.reminder",
                OutboxEvent.payload["booking"].as_string() == booking["id"],
            )
        )
        assert first is not None
        await outbox.enqueue(
            session=session, topic=first.topic, city_id=first.city_id, payload=first.payload
        )
    move_past(hub_clock, first.available_at)
    await drain(db, settings)
    async with db.unit_of_work() as session:  # both reminder events were carried out...
        done = await session.scalars(
            select(OutboxEvent.status).where(OutboxEvent.topic == "appointment.reminder")
        )
        assert set(done.all()) == {"done"}
    inbox = await world.channel.get(f"/v1/residents/{kept}/notices", params={"lang": "en"})
    [reminder] = inbox["items"]
    assert reminder["body"].startswith("Your appointment at ") and booking["status"] == "booked"
    empty = await world.channel.get(f"/v1/residents/{dropped}/notices")
    assert empty["items"] == []


def test_the_reminder_is_the_evening_before_or_at_once_when_that_has_passed() -> None:
    from cityhub.appointments.events import REMIND_LATE_MIN, reminder_at

    tz = "Asia/Shanghai"
    starts = dt.datetime(2026, 12, 3, 9, 0, tzinfo=CHINA)
    early = dt.datetime(2026, 12, 1, 12, 0, tzinfo=CHINA)
    assert reminder_at(starts, tz, early) == dt.datetime(2026, 12, 2, 18, 0, tzinfo=CHINA)
    late = dt.datetime(2026, 12, 2, 21, 0, tzinfo=CHINA)  # booked after the evening before
    assert reminder_at(starts, tz, late) == late
    too_near = starts - REMIND_LATE_MIN + dt.timedelta(minutes=1)
    assert reminder_at(starts, tz, too_near) is None
