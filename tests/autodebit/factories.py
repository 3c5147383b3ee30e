"""Auto-debit factories: a payment world whose channel has a user, their agreement on an
unpaid bill's account, the hub's two jobs run at the hub's clock, and the channel's answers."""

from __future__ import annotations

import itertools
import json
from typing import Any

from sqlalchemy import select

from cityhub.autodebit import jobs
from cityhub.autodebit.models import Agreement, AutoDebit
from cityhub.billing.models import Payment
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity.models import ChannelUser
from cityhub.notices.models import Notice
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database, utcnow
from tests.billing.factories import PayWorld, UnpaidBill
from tests.client import Api
from tests.outbox_helpers import Receiver

_keys = itertools.count(1)


def key() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"ad-key-{next(_keys)}"}


async def agree(
    world: PayWorld,
    bill: UnpaidBill,
    *,
    user_id: str = "u1",
    limit_fen: int = 1_000_000,
    channel: Api | None = None,
    expect: int = 201,
) -> Any:
    """The channel's user (registered first) agrees to auto-debit the bill's account."""
    channel = channel or world.channel
    known = await channel.client.post(
        "/v1/residents", json={"user_id": user_id}, headers=await channel.current_headers()
    )
    assert known.status_code in (200, 201), known.text
    body = {
        "user_id": user_id,
        "service": bill.service,
        "account": bill.account,
        "limit_fen": limit_fen,
        "currency": "CNY",
    }
    return await channel.post(
        world.url("/auto-debit-agreements"), json=body, headers=key(), expect=expect
    )


async def scan(world: PayWorld, hub: ConnectorHub) -> int:
    """The scan job at the hub's clock: how many bills it planned."""
    return await jobs.scan(db=world.db, hub=hub, city=world.city, now=utcnow())


async def debit(world: PayWorld) -> dict[str, int]:
    """The debit job at the hub's clock."""
    return await jobs.debit(db=world.db, city=world.city, now=utcnow())


def past_notice(clock: Clock) -> None:
    """The notice period (a day) goes by."""
    clock.advance(hours=24, minutes=1)


def requested(receiver: Receiver) -> list[dict[str, Any]]:
    """The `autodebit.requested` webhooks the channel received (signatures checked)."""
    bodies = [json.loads(d.body) for d in receiver.deliveries]
    return [b["data"] for b in bodies if b["type"] == "autodebit.requested"]


def topics(receiver: Receiver) -> list[str]:
    """The types of the webhooks the channel received, in order."""
    return [json.loads(d.body)["type"] for d in receiver.deliveries]


async def answer(world: PayWorld, data: dict[str, Any], *, expect: int = 200, **extra: Any) -> Any:
    """The channel charged its user what the request said, and confirms."""
    payment = data["payment"]
    body = {
        "channel_txn_id": f"wx-{payment['id'][-12:]}",
        "amount_fen": payment["total_fen"],
        "currency": payment["currency"],
        **extra,
    }
    url = world.url(f"/auto-debits/{data['auto_debit']['id']}/confirmation")
    return await world.channel.post(url, json=body, headers=key(), expect=expect)


async def debits(db: Database) -> list[AutoDebit]:
    """Every auto-debit, oldest first."""
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(AutoDebit).order_by(AutoDebit.id))).all())


async def payments_of(db: Database) -> list[Payment]:
    """Every payment, oldest first."""
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(Payment).order_by(Payment.id))).all())


async def notices(db: Database, prefix: str) -> list[str]:
    """The dedupe keys of the notices sent whose key starts so."""
    async with db.unit_of_work() as session:
        keys = await session.scalars(
            select(Notice.dedupe_key).where(Notice.dedupe_key.is_not(None))
        )
    return [k for k in keys.all() if k is not None and k.startswith(prefix)]


async def link(db: Database, *, channel_id: int, user_id: str, agreement_id: str) -> None:
    """The channel's user is proven to be the agreement's resident (what a proven link makes:
    the channel's user points at that person's record)."""
    async with db.unit_of_work() as session:
        resident_id = await session.scalar(
            select(Agreement.resident_id).where(Agreement.public_id == agreement_id)
        )
        assert resident_id is not None
        session.add(
            ChannelUser(channel_id=channel_id, channel_user_id=user_id, resident_id=resident_id)
        )
