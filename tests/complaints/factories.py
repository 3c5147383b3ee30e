"""Complaint factories: a paid bill, a bill the ledger shows paid twice, a complaint filed."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select

from cityhub.billing import ledger
from cityhub.billing.models import Payment
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from tests.billing.factories import PayWorld
from tests.client import Api
from tests.outbox_helpers import drain

_keys = itertools.count(1)


async def paid(
    world: PayWorld, settings: Settings, service: str = "water", user_id: str = "u-1"
) -> Any:
    """A bill of the service paid in full by the channel's user, completed by the biller."""
    bill = world.unpaid(service)[0]
    await world.look_up(bill)
    payment = await world.confirm(await world.quote(bill, user_id=user_id))
    await drain(world.db, settings)
    done = await world.get(payment["id"])
    assert done["status"] == "completed", done
    return done


async def paid_again(db: Database, payment_id: str) -> str:
    """The ledger as a bill paid twice leaves it: a second completed payment of the same bill,
    amount and user by the same channel, posted as the first was (the hub's own guard refuses
    to quote it, so a test writes what a biller's double credit would leave). Its public id."""
    async with db.unit_of_work() as session:
        first = await session.scalar(select(Payment).where(Payment.public_id == payment_id))
        assert first is not None
        copy = {
            c.key: getattr(first, c.key)
            for c in Payment.__table__.columns
            if c.key not in ("id", "public_id", "channel_txn_id", "provider_ref")
        }
        second = Payment(
            **copy, public_id=f"{payment_id[:36]}dup2", channel_txn_id="wx-again",
            provider_ref="again",
        )  # fmt: skip
        session.add(second)
        await session.flush()
        for kind, lines in (
            ("payment.confirmed", [
                (ledger.channel_receivable(second.channel_id), second.total_fen),
                (ledger.biller_pending(second.service_id), -second.amount_fen),
                (ledger.FEES, -second.fee_fen),
            ]),
            ("payment.completed", [
                (ledger.biller_pending(second.service_id), second.amount_fen),
                (ledger.biller_payable(second.service_id), -second.amount_fen),
            ]),
        ):  # fmt: skip
            await ledger.post(
                session=session, city_id=second.city_id, kind=kind, currency=second.currency,
                lines=lines, payment_id=second.id, memo=f"{second.public_id}: the bill again",
            )  # fmt: skip
        return second.public_id


async def file(
    world: PayWorld,
    *,
    type: str,
    payment_id: str | None = None,
    service: str | None = None,
    channel: Api | None = None,
    expect: int = 201,
    key: str | None = None,
    **extra: Any,
) -> Any:
    """The channel files a complaint."""
    body: dict[str, Any] = {"type": type, "description": "it went wrong", **extra}
    if payment_id is not None:
        body["payment_id"] = payment_id
    if service is not None:
        body["service"] = service
    headers = {"Idempotency-Key": key or f"cmp-{next(_keys)}"}
    return await (channel or world.channel).post(
        world.url("/complaints"), json=body, headers=headers, expect=expect
    )
