"""Routes of bill payments: look bills up, quote and confirm payments, read them, refund them,
and a biller's terms."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from cityhub.billing import admin_api, bills, catalogue_api, flows, standing, terms
from cityhub.billing import service as payments
from cityhub.billing.models import PaymentStatus, RefundSource
from cityhub.billing.schemas import (
    BillerField,
    BillerReversalCreate,
    BillRead,
    BillsRead,
    PaymentConfirm,
    PaymentCreate,
    PaymentRead,
    RefundCreate,
    RefundRead,
    TermsIn,
    TermsRead,
)
from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity import audit
from cityhub.identity.deps import (
    Caller,
    ChannelCaller,
    CurrentCaller,
    CurrentChannel,
    CurrentStaff,
    Expensive,
    StaffCaller,
    require_provider,
    require_staff_role,
)
from cityhub.identity.enums import Role
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import BadRequest
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep

if TYPE_CHECKING:
    from cityhub.billing.models import Bill
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1/cities/{city}", tags=["payments"])
ServiceCode = Annotated[str, Path(max_length=60)]
PaymentId = Annotated[str, Path(max_length=40, description="the payment's id, pay_...")]
SCOPE = "payments:write"


def _channel_id(caller: Caller) -> int | None:
    """The channel whose payments the caller sees (None: staff, who see the city's)."""
    if isinstance(caller, ChannelCaller):
        caller.require(SCOPE)
        return caller.channel.id
    return None


@router.get(
    "/services/{code}/bills",
    operation_id="lookUpBills",
    summary="Look up an account's bills",
    response_model=BillsRead,
    dependencies=[Expensive],
)
async def look_up_bills(
    session: SessionDep,
    hub: HubDep,
    caller: CurrentChannel,
    city: CityDep,
    code: ServiceCode,
    request: Request,
    account: Annotated[
        str | None,
        Query(
            max_length=80,
            description="account number, for a biller that asks one `account` field; a biller "
            "that declares other fields (`getBiller`) takes each as a query parameter of its name",
        ),
    ] = None,
) -> BillsRead:
    """An account's bills as the biller shows them now; the hub keeps what was shown, and
    payments are made against those bills. Each field the biller declares is checked against
    its pattern before the biller is asked (422 naming the field)."""
    caller.require(SCOPE)
    prepared, kept = await bills.look_up(
        session=session,
        hub=hub,
        city=city,
        channel_id=caller.channel.id,
        code=code,
        values={name: value.strip() for name, value in request.query_params.items()},
    )
    t = prepared.terms
    today = today_in(city.timezone)
    items = [_bill_read(bill, t, today) for bill in kept]
    return BillsRead(
        service=prepared.service.code,
        account=prepared.account,
        sub_type=t.sub_type,
        amount_rule=t.amount_rule,
        fee_fixed_fen=t.fee_fixed_fen,
        fee_rate_bps=t.fee_rate_bps,
        bills=items,
    )


def _bill_read(bill: Bill, t: terms.Terms, today: dt.date) -> BillRead:
    """A kept bill as the look-up shows it: the bounds of its terms, and where it stands."""
    low, high = t.bounds(bill.amount_fen)
    now = standing.of(bill, today)
    return BillRead(
        bill_id=bill.bill_ref,
        account=bill.account,
        period=bill.period,
        amount_fen=bill.amount_fen,
        currency=bill.currency,
        due_date=bill.due_date,
        status=now.status,
        min_fen=low,
        max_fen=high,
        holder=bill.holder,
        late_fee_fen=bill.late_fee_fen,
        sub_type=t.sub_type,
        paid_fen=now.paid_fen,
        remaining_fen=now.remaining_fen,
        payable_until=bill.payable_until,
    )


@router.post(
    "/payments",
    operation_id="createPayment",
    summary="Quote a payment",
    status_code=201,
    response_model=PaymentRead,
    openapi_extra=route_meta(idempotency_required=True),
)
async def create_payment(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    payment_in: PaymentCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Quote a payment of a bill the channel was shown: `total_fen` is what to charge the
    user, `quote_expires_at` how long the quote holds. Needs an `Idempotency-Key`."""
    caller.require(SCOPE)
    if idem.key is None:
        raise BadRequest(
            "send an Idempotency-Key header: a retry must not create a second payment",
            code="idempotency_key_required",
            field="Idempotency-Key",
        )
    view = await payments.create(
        session=session, city=city, channel_id=caller.channel.id, payment_in=payment_in
    )
    return await idem.respond(201, view.read())


@router.post(
    "/payments/{payment_id}/confirmation",
    operation_id="confirmPayment",
    summary="Confirm a payment",
    response_model=PaymentRead,
    dependencies=[Expensive],
)
async def confirm_payment(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    payment_id: PaymentId,
    confirm_in: PaymentConfirm,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The channel charged its user `total_fen`: the hub posts the payment and pays the biller.
    A payment is confirmed once; again, after expiry or with another amount is a 4xx."""
    caller.require(SCOPE)
    view = await payments.confirm(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        public_id=payment_id,
        confirm_in=confirm_in,
    )
    return await idem.respond(200, view.read())


@router.get(
    "/payments",
    operation_id="listPayments",
    summary="List payments",
    response_model=Page[PaymentRead],
)
async def list_payments(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    status: PaymentStatus | None = None,
) -> Page[PaymentRead]:
    """Payments, newest first: a channel sees its own, staff their city's (provider staff
    their provider's)."""
    rows = await payments.get_all(
        session=session,
        city_id=city.id,
        channel_id=_channel_id(caller),
        status=status,
        after=page.after,
        limit=page.limit,
        providers=caller.providers_in(city.id) if isinstance(caller, StaffCaller) else None,
    )
    return page.page([v.read() for _, v in rows], rows[-1][0] if rows else None)


@router.get(
    "/payments/{payment_id}",
    operation_id="getPayment",
    summary="Get a payment",
    response_model=PaymentRead,
)
async def get_payment(
    session: SessionDep, caller: CurrentCaller, city: CityDep, payment_id: PaymentId
) -> PaymentRead:
    """One payment (another channel's payments do not exist here)."""
    view = await payment_view(session, caller, city, payment_id)
    return view.read()


@router.get(
    "/payments/{payment_id}/refunds",
    operation_id="listRefunds",
    summary="List a payment's refunds",
    response_model=Page[RefundRead],
)
async def list_refunds(
    session: SessionDep, caller: CurrentCaller, city: CityDep, payment_id: PaymentId, page: PageDep
) -> Page[RefundRead]:
    """A payment's refunds, oldest first."""
    view = await payment_view(session, caller, city, payment_id)
    rows = await flows.refunds_of(session=session, payment=view.payment)
    return page.slice([flows.refund_read(r, view.payment) for r in rows], key=lambda x: x.id)


@router.post(
    "/payments/{payment_id}/refunds",
    operation_id="refundPayment",
    summary="Refund a payment",
    status_code=201,
    response_model=RefundRead,
)
async def refund_payment(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    payment_id: PaymentId,
    refund_in: RefundCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Refund part or all of a completed payment (city admin); the channel is told to pay its
    user back, and a full refund is reversed at the biller."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=payment_id, channel_id=None
    )
    row = await flows.refund(
        session=session,
        view=view,
        amount_fen=refund_in.amount_fen,
        currency=refund_in.currency,
        reason=refund_in.reason,
        source=RefundSource.STAFF,
        requested_by=f"staff:{staff.staff.username}",
    )
    await _audit(session, staff, city.id, "payment.refund", row.public_id, view, row.total_fen)
    return await idem.respond(201, flows.refund_read(row, view.payment))


@router.post(
    "/payments/{payment_id}/biller-reversal",
    operation_id="recordBillerReversal",
    summary="Record a biller's reversal",
    status_code=201,
    response_model=RefundRead,
)
async def record_biller_reversal(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    payment_id: PaymentId,
    reversal_in: BillerReversalCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """The biller reversed a completed payment on its side (provider staff or city admin): the
    rest of the payment is refunded and the channel told to pay its user back."""
    require_staff_role(staff, city.id, Role.PROVIDER_STAFF, Role.CITY_ADMIN)
    view = await payment_view(session, staff, city, payment_id)
    p = view.payment
    row = await flows.refund(
        session=session,
        view=view,
        amount_fen=p.amount_fen - p.refunded_fen,
        currency=p.currency,
        reason=reversal_in.reason,
        source=RefundSource.BILLER_REVERSAL,
        requested_by=f"staff:{staff.staff.username}",
    )
    await _audit(session, staff, city.id, "payment.biller_reversal", row.public_id, view, 0)
    return await idem.respond(201, flows.refund_read(row, view.payment))


async def payment_view(
    session: SessionDep, caller: Caller, city: City, payment_id: str
) -> payments.PaymentView:
    """A payment as the caller may see it: a channel its own, staff their provider's."""
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=payment_id, channel_id=_channel_id(caller)
    )
    require_provider(
        caller, view.service, city_id=city.id, object_type="payment", object_id=payment_id,
        code="payment_not_found",
    )  # fmt: skip
    return view


async def _audit(
    session: SessionDep,
    staff: StaffCaller,
    city_id: int,
    action: str,
    object_id: str,
    view: payments.PaymentView,
    total_fen: int,
) -> None:
    await audit.append(
        session=session,
        actor=staff.actor,
        action=action,
        object_type="refund",
        object_id=object_id,
        city_id=city_id,
        details={"payment": view.payment.public_id, "total_fen": total_fen},
    )


@router.get(
    "/services/{code}/biller-terms",
    operation_id="getBillerTerms",
    summary="Get a biller's terms",
    response_model=TermsRead,
)
async def get_terms(
    session: SessionDep, caller: CurrentCaller, city: CityDep, code: ServiceCode
) -> TermsRead:
    """How the biller takes payments: account format, amount rule, fee, accepted hours."""
    service = await bills.get_bill_service_or_raise(session=session, city_id=city.id, code=code)
    if isinstance(caller, ChannelCaller):
        await cities.require_service_granted(
            session=session, channel_id=caller.channel.id, service=service
        )
    row = await terms.get_row(session=session, city_id=city.id, service_id=service.id)
    return _terms_read(service.code, terms.Terms.of(row), stored=row is not None)


@router.put(
    "/services/{code}/biller-terms",
    operation_id="putBillerTerms",
    summary="Set a biller's terms",
    response_model=TermsRead,
)
async def put_terms(
    session: SessionDep, staff: CurrentStaff, city: CityDep, code: ServiceCode, terms_in: TermsIn
) -> TermsRead:
    """Set the biller's terms (city admin)."""
    require_staff_role(staff, city.id, Role.CITY_ADMIN)
    service = await bills.get_bill_service_or_raise(session=session, city_id=city.id, code=code)
    saved = terms.Terms(
        **terms_in.model_dump(exclude={"fields"}),
        fields=catalogue_api.stored_fields(terms_in.fields),
    )
    await terms.save(session=session, city_id=city.id, service_id=service.id, terms=saved)
    await audit.append(
        session=session,
        actor=staff.actor,
        action="biller_terms.update",
        object_type="service",
        object_id=service.code,
        city_id=city.id,
        details=terms_in.model_dump(mode="json"),
    )
    return _terms_read(service.code, saved, stored=True)


def _terms_read(code: str, t: terms.Terms, *, stored: bool) -> TermsRead:
    return TermsRead(
        service=code,
        stored=stored,
        account_pattern=t.account_pattern,
        amount_rule=t.amount_rule,
        min_fen=t.min_fen,
        max_fen=t.max_fen,
        multiple_fen=t.multiple_fen,
        fee_fixed_fen=t.fee_fixed_fen,
        fee_rate_bps=t.fee_rate_bps,
        accept_from=t.accept_from,
        accept_until=t.accept_until,
        quote_seconds=t.quote_seconds,
        refund_rule=t.refund_rule,
        refund_days=t.refund_days,
        sub_type=t.sub_type,
        fields=[BillerField.model_validate(f) for f in t.fields] if t.fields else None,
    )


router.include_router(admin_api.router)
router.include_router(catalogue_api.router)
