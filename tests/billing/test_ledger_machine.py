"""The ledger balances after anything: random sequences of quotes, confirmations (some twice),
the biller's answers (some twice), refunds, expiry, settlement and roll-ups of the entries into
the stored balances, on a real database.

After every step every posting sums to zero, every account's balance equals the sum of its
entries (`ledger.check`, what `cityhub ledger check` runs), and the balances are what a simple
model of the payments says they must be.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import shutil
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, text, update

from cityhub.billing import flows, ledger, settlement
from cityhub.billing import service as payments
from cityhub.billing.bills import keep
from cityhub.billing.models import AmountRule, Bill, Payment, PaymentStatus, RefundSource
from cityhub.billing.schemas import PaymentConfirm, PaymentCreate
from cityhub.billing.terms import Terms, save
from cityhub.cities.models import City, Service
from cityhub.connectors import types
from cityhub.models import metadata
from cityhub.platform.db import Database, utcnow
from cityhub.platform.errors import CityHubError
from tests.cities.factories import create_city, create_grant, create_service
from tests.identity.factories import create_channel

T = TypeVar("T")
FEE = 100
SHARED, SHARED_FEN = "SHARED", 100_000  # one partial bill that many quotes share


@dataclass
class Model:
    """What the hub should have for one payment."""

    public_id: str
    amount_fen: int
    fee_fen: int
    status: str = "quoted"
    refunded_fen: int = 0
    bill_ref: str = ""
    partial: bool = False

    @property
    def total_fen(self) -> int:
        return self.amount_fen + self.fee_fen


class LedgerMachine(RuleBasedStateMachine):
    """Drives the payment services against a fresh database per example."""

    database: Database
    fresh: Any  # an async callable giving a migrated, empty database

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = self.run(type(self).fresh())
        self.models: dict[str, Model] = {}
        self.txn = itertools.count(1)
        self.settled = {"receivable": 0, "payable": 0}  # the model's sums at the last settlement
        self.days = 0

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.run(self._drop())
        self.loop.close()

    async def _drop(self) -> None:
        if not self.db.is_sqlite:
            tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            async with self.db.engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await self.db.dispose()

    @initialize()
    def world(self) -> None:
        self.city, self.channel_id, self.exact, self.partial = self.run(self._world())

    async def _world(self) -> tuple[City, int, Service, Service]:
        city = await create_city(self.db)
        login = await create_channel(self.db)
        exact = await create_service(self.db, city=city, code="water")
        partial = await create_service(self.db, city=city, code="power")
        async with self.db.unit_of_work() as session:
            await save(
                session=session,
                city_id=city.id,
                service_id=exact.id,
                terms=Terms(fee_fixed_fen=FEE),
            )
            await save(
                session=session,
                city_id=city.id,
                service_id=partial.id,
                terms=Terms(amount_rule=AmountRule.PARTIAL, min_fen=1, fee_rate_bps=55),
            )
        for service in (exact, partial):
            await create_grant(self.db, channel=login.channel, service=service)
        return city, login.channel.id, exact, partial

    # -- the rules -------------------------------------------------------------------------

    def _in(self, *statuses: str) -> list[str]:
        return sorted(p for p, m in self.models.items() if m.status in statuses)

    def _pick(self, data: st.DataObject, *statuses: str) -> Model:
        return self.models[data.draw(st.sampled_from(self._in(*statuses)), label="payment")]

    @rule(
        partial=st.booleans(),
        bill_fen=st.integers(min_value=1, max_value=500_000),
        share=st.integers(min_value=1, max_value=100),
    )
    def quote(self, partial: bool, bill_fen: int, share: int) -> None:
        service = self.partial if partial else self.exact
        ref = f"B{len(self.models) + 1}"
        amount = max(1, bill_fen * share // 100) if partial else bill_fen
        view = self.run(self._quote(service, ref, bill_fen, amount))
        fee = view.payment.fee_fen
        assert fee == (-(-amount * 55 // 10_000) if partial else FEE)
        self.models[view.payment.public_id] = Model(
            view.payment.public_id, amount, fee, bill_ref=ref, partial=partial
        )

    async def _quote(
        self, service: Service, ref: str, bill_fen: int, amount: int
    ) -> payments.PaymentView:
        shown = types.Bill(bill_id=ref, account="1234567890", period="2025-10", amount_fen=bill_fen)
        async with self.db.unit_of_work() as session:
            await keep(session=session, city_id=self.city.id, service_id=service.id, bills=[shown])
            return await payments.create(
                session=session,
                city=self.city,
                channel_id=self.channel_id,
                payment_in=PaymentCreate(
                    service=service.code, bill_id=ref, amount_fen=amount, currency="CNY"
                ),
            )

    @rule(amount=st.integers(min_value=1, max_value=SHARED_FEN // 2))
    def quote_part_of_the_shared_bill(self, amount: int) -> None:
        """A part of the one bill every such quote shares: taken iff it fits what is left."""
        paid, reserved = self._held_by_model().get(SHARED, (0, 0))
        try:
            view = self.run(self._quote(self.partial, SHARED, SHARED_FEN, amount))
        except CityHubError as exc:
            if paid >= SHARED_FEN:
                assert exc.code == "bill_already_paid", exc
                return
            assert exc.code == "bill_amount_exceeded", exc
            assert exc.extra["left_fen"] == SHARED_FEN - paid - reserved < amount
            return
        assert paid + reserved + amount <= SHARED_FEN
        fee = view.payment.fee_fen
        self.models[view.payment.public_id] = Model(
            view.payment.public_id, amount, fee, bill_ref=SHARED, partial=True
        )

    @precondition(lambda self: self._in("quoted"))
    @rule(data=st.data())
    def confirm(self, data: st.DataObject) -> None:
        model = self._pick(data, "quoted")
        assert self.run(self._attempt(self._confirm(model))), model
        model.status = "confirmed"

    @precondition(lambda self: self._in("confirmed", "completed", "failed", "refunded", "expired"))
    @rule(data=st.data())
    def confirm_again_or_too_late(self, data: st.DataObject) -> None:
        model = self._pick(data, "confirmed", "completed", "failed", "refunded", "expired")
        assert not self.run(self._attempt(self._confirm(model))), model

    async def _confirm(self, model: Model) -> None:
        async with self.db.unit_of_work() as session:
            await payments.confirm(
                session=session,
                city=self.city,
                channel_id=self.channel_id,
                public_id=model.public_id,
                confirm_in=PaymentConfirm(
                    channel_txn_id=f"t{next(self.txn)}", amount_fen=model.total_fen, currency="CNY"
                ),
            )

    @precondition(lambda self: self._in("confirmed"))
    @rule(data=st.data(), accepted=st.booleans())
    def biller_answers(self, data: st.DataObject, accepted: bool) -> None:
        model = self._pick(data, "confirmed")
        assert self.run(self._answer(model, accepted)), model
        model.status = "completed" if accepted else "failed"

    @precondition(lambda self: self._in("quoted", "completed", "failed", "refunded", "expired"))
    @rule(data=st.data(), accepted=st.booleans())
    def biller_answers_again_or_unasked(self, data: st.DataObject, accepted: bool) -> None:
        model = self._pick(data, "quoted", "completed", "failed", "refunded", "expired")
        assert not self.run(self._answer(model, accepted)), model

    async def _answer(self, model: Model, accepted: bool) -> bool:
        async with self.db.unit_of_work() as session:
            view = await payments.get_view_or_raise(
                session=session, city_id=self.city.id, public_id=model.public_id, channel_id=None
            )
            if accepted:
                return await flows.complete(session=session, view=view, provider_ref="R")
            return await flows.fail(session=session, view=view, code="no", detail="refused")

    @precondition(lambda self: self._in("completed"))
    @rule(data=st.data(), share=st.integers(min_value=1, max_value=120), staff=st.booleans())
    def refund(self, data: st.DataObject, share: int, staff: bool) -> None:
        model = self._pick(data, "completed")
        left = model.amount_fen - model.refunded_fen
        amount = max(1, left * share // 100)
        ok = self.run(self._attempt(self._refund(model, amount, staff)))
        assert ok == (amount <= left), (model, amount, ok)
        if ok:
            model.refunded_fen += amount
            if model.refunded_fen == model.amount_fen:
                model.status = "refunded"

    @precondition(lambda self: self._in("quoted", "confirmed", "failed", "refunded", "expired"))
    @rule(data=st.data())
    def refund_not_allowed(self, data: st.DataObject) -> None:
        model = self._pick(data, "quoted", "confirmed", "failed", "refunded", "expired")
        assert not self.run(self._attempt(self._refund(model, 1, True))), model

    async def _refund(self, model: Model, amount: int, staff: bool) -> None:
        async with self.db.unit_of_work() as session:
            view = await payments.get_view_or_raise(
                session=session, city_id=self.city.id, public_id=model.public_id, channel_id=None
            )
            await flows.refund(
                session=session,
                view=view,
                amount_fen=amount,
                currency="CNY",
                reason="test",
                source=RefundSource.STAFF if staff else RefundSource.BILLER_REVERSAL,
                requested_by="machine",
            )

    @precondition(lambda self: self._in("quoted"))
    @rule(data=st.data())
    def quote_expires(self, data: st.DataObject) -> None:
        model = self._pick(data, "quoted")
        self.run(self._expire(model))
        model.status = "expired"

    async def _expire(self, model: Model) -> None:
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(Payment)
                .where(Payment.public_id == model.public_id)
                .values(quote_expires_at=utcnow() - dt.timedelta(seconds=1))
            )
            await payments.expire_quotes(session=session, city_id=self.city.id)

    @rule()
    def roll_up(self) -> None:
        self.run(self._roll_up())

    async def _roll_up(self) -> None:
        async with self.db.unit_of_work() as session:
            await ledger.roll_up(session=session, city_id=self.city.id)

    @rule()
    def settle(self) -> None:
        self.run(self._settle())
        self.settled = {
            "receivable": self.expected()["receivable"],
            "payable": self.expected()["payable"],
        }

    async def _settle(self) -> None:
        # Each settlement is of a later day (a day is settled once): it takes everything so far.
        self.days += 1
        day = dt.datetime.now(ZoneInfo(self.city.timezone)).date() + dt.timedelta(days=self.days)
        async with self.db.unit_of_work() as session:
            await settlement.settle(session=session, city=self.city, day=day)

    def expected(self) -> dict[str, int]:
        """What the accounts must hold, from the model alone (before any settlement)."""
        live = [
            m for m in self.models.values() if m.status in ("confirmed", "completed", "refunded")
        ]
        return {
            "receivable": sum(
                m.total_fen - m.refunded_fen - (m.fee_fen if m.status == "refunded" else 0)
                for m in live
            ),
            "pending": -sum(m.amount_fen for m in live if m.status == "confirmed"),
            "payable": -sum(m.amount_fen - m.refunded_fen for m in live if m.status != "confirmed"),
            "fees": -sum(m.fee_fen for m in live if m.status != "refunded"),
        }

    async def _attempt(self, work: Awaitable[None]) -> bool:
        try:
            await work
        except CityHubError:
            return False
        return True

    # -- what must hold after every step ----------------------------------------------------

    @invariant()
    def bills_hold_what_their_payments_paid_and_reserve(self) -> None:
        held = self.run(self._held())
        assert {ref: held[ref] for ref in self._held_by_model()} == self._held_by_model()
        paid, reserved = held.get(SHARED, (0, 0))
        assert paid + reserved <= SHARED_FEN  # never more than the shared bill owes

    def _held_by_model(self) -> dict[str, tuple[int, int]]:
        """What each bill must hold, paid and reserved, from the model alone."""
        found: dict[str, tuple[int, int]] = {}
        for m in self.models.values():
            paid, reserved = found.get(m.bill_ref, (0, 0))
            if m.status in ("completed", "refunded"):
                paid += m.amount_fen - m.refunded_fen
            if m.partial and m.status in ("quoted", "confirmed"):
                reserved += m.amount_fen
            found[m.bill_ref] = (paid, reserved)
        return found

    async def _held(self) -> dict[str, tuple[int, int]]:
        """Each bill's paid and reserved amounts (allowance)."""
        async with self.db.unit_of_work() as session:
            rows = await session.execute(select(Bill.bill_ref, Bill.paid_fen, Bill.reserved_fen))
            return {ref: (paid, reserved) for ref, paid, reserved in rows.all()}

    @invariant()
    def ledger_balances(self) -> None:
        report = self.run(self._check())
        assert report.ok, report.problems()

    async def _check(self) -> ledger.LedgerReport:
        async with self.db.unit_of_work() as session:
            report = await ledger.check(session=session)
            rows = await session.execute(select(Payment.public_id, Payment.status))
            statuses = dict(rows.all())
            accounts = {
                a.code: a.balance_fen
                for a in await ledger.balances(session=session, city_id=self.city.id)
            }
        for public_id, model in self.models.items():
            assert PaymentStatus(statuses[public_id]).value == model.status, (model, statuses)
        expected = self.expected()
        by_kind = {"receivable": 0, "pending": 0, "payable": 0, "fees": 0, "settlement": 0}
        for code, balance in accounts.items():
            kind = code.rsplit(":", 1)[-1]
            by_kind[kind] += balance
        assert by_kind["receivable"] == expected["receivable"] - self.settled["receivable"]
        assert by_kind["payable"] == expected["payable"] - self.settled["payable"]
        assert by_kind["pending"] == expected["pending"]
        assert by_kind["fees"] == expected["fees"]
        assert sum(by_kind.values()) == 0
        return report


def _fresh_sqlite(template: str, folder: Path) -> Any:
    counter = itertools.count()

    async def fresh() -> Database:
        path = folder / f"machine-{next(counter)}.sqlite3"
        shutil.copyfile(template, path)
        return Database(f"sqlite+aiosqlite:///{path}")

    return fresh


def _fresh_postgres(url: str) -> Any:
    async def fresh() -> Database:
        return Database(url, pool_size=2)

    return fresh


@pytest.mark.slow
def test_the_ledger_balances_after_any_sequence_of_steps(
    db_kind: str, template: str, tmp_path: Path
) -> None:
    LedgerMachine.fresh = staticmethod(  # type: ignore[method-assign]
        _fresh_sqlite(template, tmp_path) if db_kind == "sqlite" else _fresh_postgres(template)
    )
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
