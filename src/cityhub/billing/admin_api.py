"""Routes of the money's back office: settlement batches, channel statements, reconciliation
reports and the ledger's accounts (city staff; channels upload their statements)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from cityhub.billing import ledger, reconciliation, settlement, statements
from cityhub.billing.schemas import (
    AccountRead,
    BatchRead,
    ReconcileCreate,
    ReconciliationRead,
    SettleCreate,
    StatementRead,
)
from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity.deps import CurrentChannel, CurrentStaff, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import Unprocessable
from cityhub.platform.openapi import csv_body, route_meta
from cityhub.platform.paging import Page, PageDep

router = APIRouter(tags=["settlement"])
READERS = (Role.CITY_ADMIN, Role.AUDITOR)
Day = Annotated[dt.date, Path(description="the day, in the city's time: YYYY-MM-DD")]


@router.post(
    "/settlements",
    operation_id="createSettlement",
    summary="Settle a day",
    status_code=201,
    response_model=Page[BatchRead],
)
async def settle(
    session: SessionDep, staff: CurrentStaff, city: CityDep, settle_in: SettleCreate
) -> Page[BatchRead]:
    """Make the day's settlement batches per biller and per channel (city admin); running it
    again answers the same batches."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    made = await settlement.run(session=session, actor=staff.actor, city=city, day=settle_in.day)
    names = await settlement.party_names(session=session, city_id=city.id)
    return Page[BatchRead](items=[settlement.batch_read(b, names) for b in made])


@router.get(
    "/settlements",
    operation_id="listSettlementBatches",
    summary="List settlement batches",
    response_model=Page[BatchRead],
)
async def list_batches(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    page: PageDep,
    day: Annotated[dt.date | None, Query(description="only this day")] = None,
) -> Page[BatchRead]:
    """The city's settlement batches (city admin, auditor)."""
    require_staff_role(staff, city.id, *READERS)
    found = await settlement.batches(session=session, city_id=city.id, day=day)
    names = await settlement.party_names(session=session, city_id=city.id)
    return page.slice([settlement.batch_read(b, names) for b in found], key=lambda x: x.id)


@router.put(
    "/statements/{day}",
    operation_id="putChannelStatement",
    summary="Upload the channel's statement of a day",
    response_model=StatementRead,
    openapi_extra=route_meta(
        requestBody=csv_body(
            "UTF-8 CSV: payment_id,channel_txn_id,amount_fen,currency,kind",
            "payment_id,channel_txn_id,amount_fen,currency,kind\n"
            "pay_8f3k2m,wx-20261201-000123,8650,CNY,charge\n",
        )
    ),
)
async def upload_statement(
    request: Request, session: SessionDep, caller: CurrentChannel, city: CityDep, day: Day
) -> StatementRead:
    """The channel's own record of the day as CSV (`payment_id,channel_txn_id,amount_fen,
    currency,kind`); the newest upload is the one reconciled."""
    caller.require("payments:write")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise Unprocessable("the statement is not UTF-8 text", field="body") from None
    stored = await statements.upload(
        session=session, city_id=city.id, channel_id=caller.channel.id, day=day, text=text
    )
    return StatementRead(
        day=day, lines=len(stored.lines.get("lines", [])), uploaded_at=stored.uploaded_at
    )


@router.post(
    "/reconciliations",
    operation_id="createReconciliation",
    summary="Reconcile a day",
    status_code=201,
    response_model=ReconciliationRead,
)
async def reconcile(
    session: SessionDep,
    hub: HubDep,
    staff: CurrentStaff,
    city: CityDep,
    reconcile_in: ReconcileCreate,
) -> ReconciliationRead:
    """Reconcile the day against the billers' statements (asked now) and the channels'
    uploaded statements (city admin)."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    return await reconciliation.run(
        session=session, hub=hub, actor=staff.actor, city=city, day=reconcile_in.day
    )


@router.get(
    "/reconciliations/{day}",
    operation_id="getReconciliation",
    summary="Get a day's reconciliation report",
    response_model=ReconciliationRead,
)
async def reconciliation_report(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    day: Day,
    format: Annotated[Literal["json", "csv"], Query(description="csv: a file to export")] = "json",
) -> Any:
    """The day's latest reconciliation report (city admin, auditor), as JSON or CSV."""
    require_staff_role(staff, city.id, *READERS)
    found = await reconciliation.report(session=session, city=city, day=day)
    if format == "csv":
        name = f"reconciliation-{city.slug}-{day.isoformat()}.csv"
        return Response(
            reconciliation.to_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return found


@router.get(
    "/ledger/accounts",
    operation_id="listLedgerAccounts",
    summary="List ledger accounts",
    response_model=Page[AccountRead],
)
async def accounts(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[AccountRead]:
    """The city's ledger accounts and their balances (city admin, auditor)."""
    require_staff_role(staff, city.id, *READERS)
    found = await ledger.balances(session=session, city_id=city.id)
    return page.slice(
        [
            AccountRead(code=a.code, kind=a.kind, currency=a.currency, balance_fen=a.balance_fen)
            for a in found
        ],
        key=lambda x: x.code,
    )
