"""Paying a bill on the portal: look the account up, see the bill, pay with the demo wallet,
see the receipt.

The portal is the hub's own channel: it calls exactly the billing functions a channel's API
calls go through (`bills.look_up`, `payments.create`, `payments.confirm`), as the
portal channel and for the signed-in resident's portal user id. The demo wallet always pays:
its "charge" is the confirmation with a transaction id of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import bills, catalogue, receipts, standing
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.billing.receipts_api import pdf_response
from cityhub.billing.schemas import PaymentConfirm, PaymentCreate
from cityhub.billing.terms import Terms
from cityhub.connectors.deps import HubDep
from cityhub.identity.pii import Vault
from cityhub.platform.clock import today_in
from cityhub.platform.config import Settings
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError, NotFound, Unprocessable
from cityhub.platform.money import parse_major
from cityhub.web import signin
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.amounts import Typed, amount_fields
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.receipts import receipt_of
from cityhub.web.portal.visitor import (
    ATTENTION_SOURCES,
    Attention,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

if TYPE_CHECKING:
    from cityhub.billing.models import Bill
    from cityhub.cities.models import City, Service

router = APIRouter(include_in_schema=False)
Account = Annotated[str, Query(min_length=1, max_length=80)]
WAITING = {PaymentStatus.CONFIRMED}  # the biller has not answered yet: the receipt refreshes
MY_PAYMENTS = 50


async def own_payment(
    session: AsyncSession, city: City, visitor: Visitor, payment_id: str
) -> payments.PaymentView:
    """The resident's own payment (anyone else's does not exist here)."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=payment_id[:40], channel_id=channel.id
    )
    if view.payment.user_id != visitor.user_id:
        raise PageError(404, "payment_not_found")
    return view


@router.get("/c/{slug}/pay/{code}", response_class=HTMLResponse)
async def pay_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    hub: HubDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
    account: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    """The account form; with an account, the bills the biller shows for it now."""
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    service, terms = await bills.usable_service(
        session=session, city=city, channel_id=channel.id, code=code[:60]
    )
    found = None
    if account:
        try:
            _prepared, found = await bills.look_up(
                session=session,
                hub=hub,
                city=city,
                channel_id=channel.id,
                code=service.code,
                # The form's one box is the biller's first field (its account).
                values={catalogue.fields_of(terms)[0].name: account.strip()},
            )
        except CityHubError as exc:  # said on the form, the account still in it
            return _pay_page(request, settings, visitor, city, service, account, problem=exc)
    return _pay_page(
        request, settings, visitor, city, service, account or "", bills=found, terms=terms
    )


def _pay_page(
    request: Request,
    settings: Settings,
    visitor: Visitor,
    city: City,
    service: Service,
    account: str,
    *,
    bills: list[Bill] | None = None,
    problem: CityHubError | None = None,
    terms: Terms | None = None,
    typed: Typed | None = None,
) -> HTMLResponse:
    """The account form (filled in), the bills found, or what went wrong and what to do.
    Under part or advance terms each bill's form has an amount field (`typed`: the amount
    the resident typed for one bill, kept as typed when it was refused)."""
    today = today_in(city.timezone)
    standings = {b.bill_ref: standing.of(b, today) for b in bills or ()}
    return page(
        request,
        settings,
        "portal/pay.html",
        status=problem.status if problem else 200,
        visitor=visitor,
        city=city,
        service=service,
        account=account,
        bills=bills,
        standings=standings,
        amounts=amount_fields(terms, bills or (), standings, typed),
        problem=problem.code if problem else None,
        typed=typed,
        demo_account=_demo_account(request, settings, service, visitor),
    )


def _demo_account(
    request: Request, settings: Settings, service: Service, visitor: Visitor
) -> str | None:
    """In demo mode, an account the simulated biller knows: the visitor's own if they are one
    of the demo people (by phone), else the first demo person's."""
    if settings.env != "demo":
        return None
    from cityhub.demo.people import demo_account

    vault: Vault = request.app.state.vault
    enc = visitor.resident.phone_enc
    return demo_account(service, vault.decrypt(enc) if enc else None)


@router.post("/c/{slug}/pay/{code}", response_class=HTMLResponse)
async def quote(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    code: str,
) -> Response:
    """Quote the payment of a bill that was shown; on to the payment page. A refusal is said
    on the bills page, the account still in its form, and leaves nothing written."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    channel = await signin.get_portal_channel_or_raise(session=session)
    service, _terms = await bills.usable_service(
        session=session, city=city, channel_id=channel.id, code=code[:60]
    )
    account = form.get("account", "")[:80]
    typed = Typed.of(form, service.code)
    try:
        payment_in = PaymentCreate(
            service=service.code,
            bill_id=form.get("bill_id", ""),
            amount_fen=_amount_fen(form, typed),
            currency=form.get("currency", "CNY"),
            user_id=visitor.user_id,
        )
    except ValueError as exc:
        if typed is not None:  # the amount typed is not one: said under its field
            wrong = Unprocessable(str(exc), code="invalid_parameter", field="amount")
            return await _amount_refused(request, session, settings, visitor, city, typed, wrong)
        incomplete = Unprocessable("the payment form is not complete", code="invalid_payment")
        return _pay_page(request, settings, visitor, city, service, account, problem=incomplete)
    try:
        async with session.begin_nested():
            view = await payments.create(
                session=session, city=city, channel_id=channel.id, payment_in=payment_in
            )
    except CityHubError as exc:
        if typed is not None and exc.field == "amount_fen":  # the terms refused the amount
            return await _amount_refused(request, session, settings, visitor, city, typed, exc)
        return _pay_page(request, settings, visitor, city, service, account, problem=exc)
    return redirect(f"/c/{city.slug}/payments/{view.payment.public_id}")


def _amount_fen(form: dict[str, str], typed: Typed | None) -> int:
    """The amount to pay in fen: the yuan typed (exactly, no floats), or the form's own."""
    if typed is not None:
        return parse_major(typed.text, form.get("currency", "CNY"))
    return int(form.get("amount_fen", ""))


async def _amount_refused(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    visitor: Visitor,
    city: City,
    typed: Typed,
    problem: CityHubError,
) -> HTMLResponse:
    """The bill's form again as the hub keeps it (nothing written: the quote's savepoint was
    rolled back), the amount as typed, and why the terms refused it."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    service, terms = await bills.usable_service(
        session=session, city=city, channel_id=channel.id, code=typed.service
    )
    try:
        bill = await bills.get_kept_or_raise(
            session=session, city_id=city.id, service_id=service.id, bill_ref=typed.bill_ref
        )
    except NotFound as exc:
        return _pay_page(request, settings, visitor, city, service, typed.account, problem=exc)
    return _pay_page(
        request, settings, visitor, city, service, typed.account,
        bills=[bill], problem=problem, terms=terms, typed=typed,
    )  # fmt: skip


@router.post("/c/{slug}/payments/{payment_id}/pay", response_class=HTMLResponse)
async def pay_with_demo_wallet(
    request: Request,
    session: SessionDep,
    visitor: SignedInVisitor,
    slug: str,
    payment_id: str,
) -> Response:
    """The demo wallet charges the total (it always pays) and the payment is confirmed."""
    await check_csrf(request)
    city = await live_city_or_404(session, slug)
    view = await own_payment(session, city, visitor, payment_id)
    await demo_wallet_pays(session=session, city=city, view=view)
    return redirect(f"/c/{city.slug}/payments/{view.payment.public_id}")


async def demo_wallet_pays(
    *, session: AsyncSession, city: City, view: payments.PaymentView
) -> None:
    """The demo wallet charges the payment's total and the portal channel confirms it (for
    any payment of the portal: a bill, an appointment's fee)."""
    channel = await signin.get_portal_channel_or_raise(session=session)
    await payments.confirm(
        session=session,
        city=city,
        channel_id=channel.id,
        public_id=view.payment.public_id,
        confirm_in=PaymentConfirm(
            channel_txn_id=f"demo-wallet-{view.payment.public_id[-24:]}",
            amount_fen=view.payment.total_fen,
            currency=view.payment.currency,
        ),
    )


@router.get("/c/{slug}/payments/{payment_id}", response_class=HTMLResponse)
async def payment_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    payment_id: str,
) -> Response:
    """The quote to pay, or the receipt (refreshing itself while the biller answers)."""
    city = await live_city_or_404(session, slug)
    view = await own_payment(session, city, visitor, payment_id)
    read = view.read()
    fragment = request.headers.get("HX-Request") == "true"
    return page(
        request,
        settings,
        "portal/_receipt.html" if fragment else "portal/payment.html",
        visitor=visitor,
        city=city,
        view=view,
        payment=read,
        waiting=read.status in WAITING,
        **await receipt_of(session, settings, city, view),
    )


@router.get("/c/{slug}/payments/{payment_id}/receipt.pdf")
async def receipt_pdf(
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    payment_id: str,
) -> Response:
    """The resident's receipt as a PDF (their own completed payments only)."""
    city = await live_city_or_404(session, slug)
    view = await own_payment(session, city, visitor, payment_id)
    if view.payment.status != PaymentStatus.COMPLETED:
        raise PageError(404, "receipt_not_found")
    receipt = await receipts.of_view(session=session, city=city, view=view)
    return pdf_response(receipt, receipts.verify_url(settings, receipt))


@router.get("/c/{slug}/payments", response_class=HTMLResponse)
async def my_payments(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """The resident's payments in the city, newest first."""
    city = await live_city_or_404(session, slug)
    mine = await _mine(session, city, visitor)
    return page(
        request, settings, "portal/payments.html", visitor=visitor, city=city, payments=mine
    )


async def _mine(session: AsyncSession, city: City, visitor: Visitor) -> list[payments.PaymentView]:
    channel = await signin.get_portal_channel_or_raise(session=session)
    rows = await payments.get_all(
        session=session, city_id=city.id, channel_id=channel.id, limit=MY_PAYMENTS
    )
    return [view for _id, view in rows if view.payment.user_id == visitor.user_id]


async def _attention(session: AsyncSession, city: City, visitor: Visitor) -> list[Attention]:
    """Payments waiting for the resident: a quote still to pay, one the biller refused."""
    found = []
    try:
        mine = await _mine(session, city, visitor)
    except NotFound:  # no portal channel: nothing to pay through
        return []
    for view in mine:
        status = payments.effective_status(view.payment)
        if status in (PaymentStatus.QUOTED, PaymentStatus.FAILED):
            found.append(
                Attention(
                    kind="payment",
                    text=view.bill.account,
                    url=f"/c/{city.slug}/payments/{view.payment.public_id}",
                    extra={"status": status.value, "service": view.service, "view": view},
                )
            )
    return found


ATTENTION_SOURCES.append(_attention)
