"""Notices other pillars cause (reminders, lottery results) and the email route over SMTP."""

from __future__ import annotations

import datetime as dt
import email
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import service as appointments
from cityhub.billing.models import Bill
from cityhub.cities.models import Service
from cityhub.identity.models import ChannelUser
from cityhub.lottery.models import (
    ApplicationStatus,
    LotteryApplication,
    LotteryRound,
    RoundStatus,
)
from cityhub.notices.models import Notice
from cityhub.platform.clock import Clock
from tests.notices.factories import NoticeWorld, deliveries, key
from tests.outbox_helpers import Receiver, free_port, invoke, make_due

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _resident_id(world: NoticeWorld, user_id: str) -> int:
    async with world.db.unit_of_work() as session:
        found = await session.scalar(
            select(ChannelUser.resident_id).where(
                ChannelUser.channel_id == world.login.channel.id,
                ChannelUser.channel_user_id == user_id,
            )
        )
    assert found is not None
    return found


async def _water(world: NoticeWorld) -> Service:
    async with world.db.unit_of_work() as session:
        found = await session.scalar(
            select(Service).where(Service.city_id == world.city.id, Service.code == "water")
        )
    assert found is not None
    return found


async def _always_active(session: AsyncSession, public_id: str) -> bool:
    return True


async def _notices(world: NoticeWorld) -> list[Notice]:
    async with world.db.unit_of_work() as session:
        return list((await session.scalars(select(Notice).order_by(Notice.id))).all())


async def test_an_appointment_reminder_is_sent_once_however_often_it_comes(
    world: NoticeWorld, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The booking stands (tests/appointments books real ones and cancels one).
    monkeypatch.setattr(appointments, "booking_is_active", _always_active)
    await world.resident("kim")
    resident = await _resident_id(world, "kim")
    payload = {
        "city": world.city.slug,
        "booking": "bk_123",
        "resident_id": resident,
        "starts_at": "2026-12-02T01:30:00+00:00",
        "hospital": "Ruijin Hospital",
        "department": "Cardiology",
        "practitioner": "Dr Wang",
    }
    for _ in range(2):  # the appointments job ran twice
        async with world.db.unit_of_work() as session:
            await outbox.enqueue(
                session=session,
                topic="appointment.reminder",
                city_id=world.city.id,
                payload=payload,
            )
        await world.drain()
    items = (await world.inbox("kim", lang="en"))["items"]
    assert [i["body"] for i in items] == [
        "Your appointment at Ruijin Hospital, Cardiology, is at 2026-12-02 09:30."
    ]
    # Transactional: pushed by SMS (no channel consent to notices was given).
    assert [(d.route, d.status) for d in await deliveries(world.db)] == [("sms", "sent")]


async def test_bill_reminders_are_sent_once_with_a_link_to_pay(world: NoticeWorld) -> None:
    await world.resident("lee")
    template = "superapp://pay?city={city}&service={service}&bill={id}"
    await world.channel.call("PUT", "/v1/channel/links", json={"templates": {"bill": template}})
    await world.channel.post(
        "/v1/residents/lee/biller-accounts",
        json={"city": world.city.slug, "service": "water", "account": "W-100"},
        headers=key(),
    )
    water = await _water(world)
    due = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=3)
    async with world.db.unit_of_work() as session:
        for ref, account, when in (
            ("B-1", "W-100", due),
            ("B-2", "W-100", due + dt.timedelta(days=1)),  # not due yet
            ("B-3", "W-999", due),  # nobody saved this account
        ):
            session.add(
                Bill(
                    city_id=world.city.id,
                    service_id=water.id,
                    account=account,
                    bill_ref=ref,
                    period="2026-11",
                    amount_fen=8850,
                    currency="CNY",
                    due_date=when,
                    status="unpaid",
                )
            )
    args = ("notices", "remind-bills", "--city", world.city.slug, "--days", "3")
    assert await invoke(world.db.url, *args) == (0, "1 bill reminder(s) sent\n")
    assert await invoke(world.db.url, *args) == (0, "0 bill reminder(s) sent\n")
    await world.drain()
    (item,) = (await world.inbox("lee", lang="en"))["items"]
    assert item["account"] == "water-co"
    # The service by its English name, not by another language's (the value is per language).
    assert item["body"] == f"Your Water account W-100 has a bill of 88.50 due on {due}."
    # Into the channel's app, not the hub's portal (the portal's link is for its own users).
    assert item["link"] == f"superapp://pay?city={world.city.slug}&service=water&bill=B-1"
    (notice,) = await _notices(world)
    assert notice.ref == "bill:water:B-1"
    assert notice.link and notice.link.endswith(
        f"/c/{world.city.slug}/pay/water?account=W-100&bill=B-1"
    )


async def test_everyone_drawn_in_a_lottery_hears_the_result(world: NoticeWorld) -> None:
    for user in ("mo", "ned", "oli"):
        await world.resident(user)
    water = await _water(world)
    ids = {user: await _resident_id(world, user) for user in ("mo", "ned", "oli")}
    now = dt.datetime.now(dt.UTC)
    async with world.db.unit_of_work() as session:
        round_ = LotteryRound(
            city_id=world.city.id,
            code="plates-1",
            service_id=water.id,
            kind="car-plate",
            title="Plates",
            opens_at=now - dt.timedelta(days=2),
            closes_at=now - dt.timedelta(days=1),
            quota=1,
            rules={},
            status=RoundStatus.DRAWN,
            commitment="0" * 64,
        )
        session.add(round_)
        await session.flush()
        for user, status in (
            ("mo", ApplicationStatus.WON),
            ("ned", ApplicationStatus.LOST),
            ("oli", ApplicationStatus.WITHDRAWN),
        ):
            session.add(
                LotteryApplication(
                    city_id=world.city.id,
                    round_id=round_.id,
                    service_id=water.id,
                    application_id=f"app-{user}",
                    resident_id=ids[user],
                    channel_id=world.login.channel.id,
                    status=status,
                )
            )
        await outbox.enqueue(
            session=session,
            topic="lottery.drawn",
            city_id=world.city.id,
            payload={"city": world.city.slug, "round": "plates-1", "winners": 1},
        )
    await world.drain()
    assert [i["title"] for i in (await world.inbox("mo", lang="en"))["items"]] == [
        "Lottery result: you won"
    ]
    assert [i["title"] for i in (await world.inbox("ned", lang="en"))["items"]] == [
        "Lottery result: not drawn"
    ]
    assert (await world.inbox("oli"))["items"] == []


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 that keeps what it receives."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


async def test_when_the_channel_fails_a_notice_falls_back_to_email_not_sms(
    world: NoticeWorld, receiver: Receiver, smtp: tuple[_Mailbox, int], hub_clock: Clock
) -> None:
    mailbox, port = smtp
    world.settings.smtp_host = "127.0.0.1"
    world.settings.smtp_port = port
    world.settings.smtp_starttls = False
    await world.resident("pat")
    await world.follow("pat")
    prefs = await world.channel.patch(
        "/v1/residents/pat/notice-preferences",
        json={"email": "pat.lin@example.com", "language": "en", "prefer_this_channel": True},
    )
    assert prefs["email"] == "p***@example.com" and prefs["phone"].count("*") == 4
    receiver.answers = [503] * 10
    await world.send()  # not urgent: no SMS
    for _ in range(6):
        await world.drain()
        await make_due(world.db, hub_clock)
    routes = [(d.route, d.status) for d in await deliveries(world.db)]
    assert routes == [(f"channel:{world.login.channel.id}", "failed"), ("email", "sent")]
    (message,) = mailbox.messages
    assert message["To"] == "pat.lin@example.com" and message["Subject"] == "Water outage"
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    path = unsubscribe[unsubscribe.index("/v1/") :]
    assert (await world.api.get(path))["status"] == "unsubscribed"
    shown = await world.channel.get("/v1/residents/pat/notice-preferences")
    assert shown["email_notices"] is False
