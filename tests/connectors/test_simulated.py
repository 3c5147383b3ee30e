"""The hub reaches the simulated billers, agencies and hospital only through the interface."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.cities.models import ServiceKind
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import PaymentOrder, Subject
from cityhub.platform.db import Database
from cityhub.platform.errors import Conflict, NotFound, Unavailable
from tests.connectors.factories import connected_service
from tests.simulators.fixtures import Sim


async def test_a_simulated_biller_serves_bills_payments_reversals_and_statements(
    db: Database, hub: ConnectorHub, sim: Sim
) -> None:
    service = await connected_service(
        db, connector="simulator:power", config={"provider_id": "sh-power"}
    )
    person = sim.world.people[2]
    account = sim.world.account_of("power", "sh-power", person)
    async with db.unit_of_work() as session:
        biller = await hub.biller(session=session, service=service)
    bills = await biller.bills(account=account)
    assert len(bills) == 3 and all(isinstance(b.amount_fen, int) for b in bills)
    unpaid = next(b for b in bills if b.status == "unpaid")
    order = PaymentOrder(
        payment_id="p-42", account=account, bill_id=unpaid.bill_id, amount_fen=unpaid.amount_fen
    )
    receipt = await biller.pay(order=order)
    assert await biller.pay(order=order) == receipt  # idempotent by our payment id
    assert receipt.payment_id == "p-42" and receipt.provider_ref.startswith("POW-")
    with pytest.raises(Conflict):
        await biller.pay(order=order.model_copy(update={"payment_id": "p-43"}))  # already paid
    assert (await biller.reverse(payment_id="p-42", reason="refund")).status == "reversed"
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    statement = await biller.statement(day=today)
    assert [ln.kind for ln in statement.lines] == ["payment", "reversal"]
    assert statement.total_fen == 0
    with pytest.raises(NotFound) as missing:
        await biller.bills(account="0000000000")
    assert missing.value.code == "account_not_found"


async def test_eligibility_comes_from_the_vehicle_administration(
    db: Database, hub: ConnectorHub, sim: Sim
) -> None:
    service = await connected_service(
        db,
        connector="simulator:vehicle-admin",
        config={"provider_id": "sh-vehicles"},
        kind=ServiceKind.LOTTERY,
    )
    owner = sim.world.people[0]
    async with db.unit_of_work() as session:
        checker = await hub.eligibility(session=session, service=service)
    found = await checker.check(lottery="car-plate", subject=Subject(id_number=owner.id_number))
    assert not found.eligible
    assert "already owns a car registered in the city" in found.reasons


async def test_a_service_connected_to_the_wrong_kind_of_provider_is_a_clear_503(
    db: Database, hub: ConnectorHub
) -> None:
    service = await connected_service(
        db, connector="simulator:traffic", config={"provider_id": "sh"}
    )
    async with db.unit_of_work() as session:
        with pytest.raises(Unavailable) as caught:
            await hub.biller(session=session, service=service)
        assert caught.value.code == "connector_misconfigured"
        unconfigured = await connected_service(db, connector="simulator:water", config={})
        with pytest.raises(Unavailable, match="provider_id"):
            await hub.biller(session=session, service=unconfigured)
