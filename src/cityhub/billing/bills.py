"""Looking bills up through the biller's connector and keeping the bills that were shown.

Like a query, a look-up runs in steps so that no transaction is open while the biller thinks:
`prepare` (service, grant, terms, account format, connector), `ask` (the biller), `keep`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import catalogue, sandbox, sql
from cityhub.billing import terms as biller_terms
from cityhub.billing.models import Bill, BillerTerms
from cityhub.billing.terms import Terms
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.connectors import types
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity import pii
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound
from cityhub.platform.uow import between_transactions

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service


@dataclass(frozen=True)
class PreparedLookup:
    """A look-up that passed every check, ready to ask the biller."""

    service: Service
    terms: Terms
    biller: types.Biller
    account: str
    fields: dict[str, str] = field(default_factory=dict)  # the others the biller asks


async def get_bill_service_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Service:
    """A bill service of the city, or NotFound."""
    service = await cities.get_service_or_raise(session=session, city_id=city_id, code=code)
    if service.kind != ServiceKind.BILL:
        raise NotFound(f"service {code!r} does not take bill payments", code="not_a_bill_service")
    return service


async def granted_service(
    *, session: AsyncSession, city: City, channel_id: int, code: str
) -> Service:
    """A bill service the channel may use now (granted and active)."""
    service = await get_bill_service_or_raise(session=session, city_id=city.id, code=code)
    await cities.require_service_granted(session=session, channel_id=channel_id, service=service)
    if service.status != ServiceStatus.ACTIVE:
        raise Conflict(f"service {code!r} is {service.status.value}", code="service_not_active")
    return service


async def usable_service(
    *, session: AsyncSession, city: City, channel_id: int, code: str
) -> tuple[Service, Terms]:
    """A bill service the channel may use now (granted and active), and its terms."""
    service = await granted_service(session=session, city=city, channel_id=channel_id, code=code)
    terms = await biller_terms.get(session=session, city_id=city.id, service_id=service.id)
    return service, terms


async def prepare(
    *,
    session: AsyncSession,
    hub: ConnectorHub,
    city: City,
    channel_id: int,
    code: str,
    values: Mapping[str, str],
) -> PreparedLookup:
    """Every check a look-up must pass before the biller is asked: the customer's fields
    (`values`, by name) each in the format the biller declares."""
    service, terms = await usable_service(
        session=session, city=city, channel_id=channel_id, code=code
    )
    account, others = catalogue.check_fields(terms, values)
    biller = await hub.biller(session=session, service=service)
    return PreparedLookup(
        service=service, terms=terms, biller=biller, account=account, fields=others
    )


async def ask(*, prepared: PreparedLookup) -> list[types.Bill]:
    """The account's bills, as the biller answers now."""
    try:
        return await prepared.biller.bills(account=prepared.account, fields=prepared.fields or None)
    except NotFound as exc:
        raise NotFound(
            exc.detail or f"the biller knows no account {prepared.account}",
            code="account_not_found",
            field="account",
        ) from None


async def look_up(
    *,
    session: AsyncSession,
    hub: ConnectorHub,
    city: City,
    channel_id: int,
    code: str,
    values: Mapping[str, str],
) -> tuple[PreparedLookup, list[Bill]]:
    """An account's bills as the biller shows them now, kept by the hub (the API's and the
    portal's look-up): checked, asked with no transaction open, then stored."""
    prepared = await prepare(
        session=session, hub=hub, city=city, channel_id=channel_id, code=code, values=values
    )
    async with between_transactions(session):
        found = await ask(prepared=prepared)
    kept = await keep(session=session, city_id=city.id, service_id=prepared.service.id, bills=found)
    return prepared, kept


async def keep(
    *, session: AsyncSession, city_id: int, service_id: int, bills: Sequence[types.Bill]
) -> list[Bill]:
    """Store the bills as shown (the newest answer wins) and return them."""
    if not bills:
        return []
    # The sandbox's bills are kept apart from the live ones (billing/sandbox.py).
    bills = [b.model_copy(update={"bill_id": sandbox.kept_ref(b.bill_id)}) for b in bills]
    now = utcnow()
    rows = [
        {
            "city_id": city_id,
            "service_id": service_id,
            "account": b.account,
            "bill_ref": b.bill_id,
            "period": b.period,
            "amount_fen": b.amount_fen,
            "currency": b.currency,
            "due_date": b.due_date,
            "status": b.status,
            "holder": _masked(b.holder),
            "late_fee_fen": b.late_fee_fen,
            "biller_paid_fen": b.paid_fen,
            "payable_until": b.payable_until,
            "fetched_at": now,
        }
        for b in bills
    ]
    # Two channels may show the same bill at once: an upsert lets both land.
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = maker(Bill).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["city_id", "service_id", "bill_ref"],
            set_={
                name: statement.excluded[name]
                for name in (
                    "account",
                    "period",
                    "amount_fen",
                    "currency",
                    "due_date",
                    "status",
                    "holder",
                    "late_fee_fen",
                    "biller_paid_fen",
                    "payable_until",
                )  # fmt: skip
            }
            | {"fetched_at": statement.excluded.fetched_at},
        )
    )
    refs = [b.bill_id for b in bills]
    query = select(Bill).where(
        Bill.city_id == city_id, Bill.service_id == service_id, Bill.bill_ref.in_(refs)
    )
    found = {b.bill_ref: b for b in (await session.scalars(query)).all()}
    for bill in found.values():
        await session.refresh(bill)  # the upsert changed rows the session may hold already
    return [found[ref] for ref in refs]


async def get_kept_with_terms_or_raise(
    *, session: AsyncSession, city_id: int, service_id: int, bill_ref: str
) -> tuple[Bill, Terms]:
    """A bill that was shown to a channel and its biller's terms in force (read together, in
    one statement: a quote's), or NotFound (look it up first)."""
    row = await sql.KEPT_WITH_TERMS.first(
        session, {"w_city": city_id, "w_service": service_id, "w_ref": bill_ref}
    )
    if row is None or not sandbox.reachable(bill_ref):
        raise _no_bill(bill_ref)
    bill = Bill(**{key: row[key] for key in sql.BILL_COLUMNS})
    if row[sql.TERMS_ID] is None:
        return bill, Terms()
    stored = BillerTerms(**{key: row[label] for key, label in sql.TERMS_COLUMNS.items()})
    return bill, Terms.of(stored)


def _masked(holder: str | None) -> str | None:
    """The holder's name as the biller masked it; one a biller sent whole is masked here (the
    family name and a star per other character), so the hub never keeps or shows it."""
    if holder is None or "*" in holder:
        return holder
    return pii.mask_name(holder)


def _no_bill(bill_ref: str) -> NotFound:
    return NotFound(
        f"no bill {bill_ref!r} was shown for this service; look the account's bills up first",
        code="bill_not_found",
        field="bill_id",
    )


async def get_kept_or_raise(
    *, session: AsyncSession, city_id: int, service_id: int, bill_ref: str
) -> Bill:
    """A bill that was shown to a channel, or NotFound (look it up first)."""
    bill = await session.scalar(
        select(Bill).where(
            Bill.city_id == city_id, Bill.service_id == service_id, Bill.bill_ref == bill_ref
        )
    )
    if bill is None or not sandbox.reachable(bill_ref):
        raise _no_bill(bill_ref)
    return bill


async def unpaid_due_on(
    *, session: AsyncSession, city_id: int, due: dt.date
) -> list[tuple[Bill, Service]]:
    """The kept bills still unpaid that fall due on a day (for reminders)."""
    found = await session.scalars(
        select(Bill)
        .where(
            Bill.city_id == city_id,
            Bill.due_date == due,
            Bill.status.in_(("unpaid", "partially_paid")),
            Bill.paid_fen < Bill.amount_fen,  # the hub's payments may have paid it since
        )
        .where(Bill.bill_ref.not_like(f"{sandbox.BILL_PREFIX}%"))  # nobody is reminded of those
        .order_by(Bill.id)
    )
    rows = []
    for bill in found.all():
        service = await cities.get_service(
            session=session, city_id=city_id, service_id=bill.service_id
        )
        assert service is not None  # a bill's service is never deleted (a foreign key)
        rows.append((bill, service))
    return rows
