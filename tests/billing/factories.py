"""Payment factories: a city whose bill services reach the simulated billers, a channel granted
them, staff, and the steps of a payment as a channel takes them."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cityhub.billing import ledger
from cityhub.billing.models import Payment
from cityhub.cities.models import City, Service
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.cities.factories import create_city, create_grant
from tests.client import Api
from tests.connectors.factories import connected_service
from tests.identity.factories import PASSWORD, ChannelLogin, create_channel, create_staff
from tests.outbox_helpers import Delivery
from tests.simulators.fixtures import Sim

BILLERS = {"water": "sh-water", "power": "sh-power", "gas": "sh-gas"}
HOOK_SECRET = "whsec-billing-tests"  # the secret of the channel's webhook endpoint
_keys = itertools.count(1)


@dataclass
class UnpaidBill:
    """A bill the simulated world says is unpaid."""

    service: str
    account: str
    bill_id: str
    amount_fen: int


@dataclass
class PayWorld:
    """A city with bill services on the simulators and a channel granted every one."""

    city: City
    services: dict[str, Service]
    login: ChannelLogin
    channel: Api
    sim: Sim
    api: Api
    db: Database
    used: set[str] = field(default_factory=set)

    def url(self, path: str = "") -> str:
        """A path under the city."""
        return f"/v1/cities/{self.city.slug}{path}"

    def unpaid(self, service: str = "water", count: int = 1) -> list[UnpaidBill]:
        """`count` unpaid bills of the service no earlier call handed out."""
        provider = self.services[service].connector_config["provider_id"]
        kind = self.services[service].connector.split(":")[1]
        today = dt.datetime.now(CHINA).date()
        found: list[UnpaidBill] = []
        for person in self.sim.world.people:
            account = self.sim.world.account_of(kind, provider, person)
            for bill in self.sim.world.bills(kind, provider, account, today):
                if bill["status"] == "unpaid" and bill["id"] not in self.used:
                    self.used.add(bill["id"])
                    found.append(UnpaidBill(service, account, bill["id"], bill["amount_fen"]))
                    if len(found) == count:
                        return found
        raise AssertionError(f"the simulated world has fewer than {count} unpaid {service} bills")

    async def look_up(self, bill: UnpaidBill, channel: Api | None = None) -> Any:
        """The channel looks the bill's account up (so the hub keeps the bill)."""
        return await (channel or self.channel).get(
            self.url(f"/services/{bill.service}/bills"), params={"account": bill.account}
        )

    async def quote(
        self,
        bill: UnpaidBill,
        *,
        amount_fen: int | None = None,
        key: str | None = None,
        expect: int = 201,
        channel: Api | None = None,
        **extra: Any,
    ) -> Any:
        """Create a payment of the bill (the bill must have been looked up)."""
        body = {
            "service": bill.service,
            "bill_id": bill.bill_id,
            "amount_fen": bill.amount_fen if amount_fen is None else amount_fen,
            "currency": "CNY",
            **extra,
        }
        headers = {"Idempotency-Key": key or f"key-{next(_keys)}"}
        return await (channel or self.channel).post(
            self.url("/payments"), json=body, headers=headers, expect=expect
        )

    async def confirm(
        self, payment: dict[str, Any], *, txn: str | None = None, expect: int = 200, **extra: Any
    ) -> Any:
        """Confirm a payment as charged in the channel's wallet."""
        body = {
            "channel_txn_id": txn or f"wx-{payment['id'][-12:]}",
            "amount_fen": payment["total_fen"],
            "currency": payment["currency"],
            **extra,
        }
        return await self.channel.post(
            self.url(f"/payments/{payment['id']}/confirmation"), json=body, expect=expect
        )

    async def pay(self, bill: UnpaidBill) -> Any:
        """Look up, quote and confirm a bill in full."""
        await self.look_up(bill)
        return await self.confirm(await self.quote(bill))

    async def get(self, payment_id: str) -> Any:
        """The payment as the channel sees it now."""
        return await self.channel.get(self.url(f"/payments/{payment_id}"))

    async def staff(self, role: Role = Role.CITY_ADMIN, provider: str | None = None) -> Api:
        """A signed-in staff member of the city (provider staff: of that biller's provider)."""
        works_for = self.services[provider].provider if provider else None
        member = await create_staff(self.db, city=self.city, role=role, provider=works_for)
        return await self.api.as_staff(member.username, PASSWORD)


async def pay_world(
    db: Database, api: Api, sim: Sim, *, webhook_url: str | None = None
) -> PayWorld:
    """A city with water, power and gas billers, granted to a new channel with every scope."""
    city = await create_city(db)
    login = await create_channel(
        db, webhook_url=webhook_url, webhook_secret=HOOK_SECRET if webhook_url else None
    )
    services = {}
    for code, provider_id in BILLERS.items():
        services[code] = await connected_service(
            db,
            city=city,
            code=code,
            connector=f"simulator:{code}",
            config={"provider_id": provider_id},
            provider=f"{code} company",
        )
        await create_grant(db, channel=login.channel, service=services[code])
    channel = await api.as_channel(login.client_id, login.secret)
    return PayWorld(
        city=city, services=services, login=login, channel=channel, sim=sim, api=api, db=db
    )


async def quote_expires_at(db: Database, payment_id: str) -> dt.datetime:
    """When a payment's quote runs out (a test moves the hub's clock past it)."""
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(Payment.quote_expires_at).where(Payment.public_id == payment_id)
        )
    assert found is not None, payment_id
    return found


async def ledger_ok(db: Database) -> ledger.LedgerReport:
    """The ledger check, asserted clean."""
    async with db.unit_of_work() as session:
        report = await ledger.check(session=session)
    assert report.ok, report.problems()
    return report


async def balances(db: Database, city: City) -> dict[str, int]:
    """The city's account balances by code."""
    async with db.unit_of_work() as session:
        return {
            a.code: a.balance_fen for a in await ledger.balances(session=session, city_id=city.id)
        }


async def payment_row(db: Database, public_id: str) -> Payment:
    """A payment as the database has it."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Payment).where(Payment.public_id == public_id))
    assert found is not None
    return found


def events(deliveries: list[Delivery], topic: str) -> list[dict[str, Any]]:
    """The bodies of the webhooks of a topic the channel received."""
    bodies = [json.loads(d.body) for d in deliveries]
    return [b for b in bodies if b["type"] == topic]
