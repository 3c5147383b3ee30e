"""Outbox handlers of bill payments: pay the biller, and tell it about full refunds.

Each handler reads what it needs in a short transaction of its own, calls the biller with no
transaction open, then writes the outcome in the handler's transaction (which commits with the
record that the handler ran, so the outcome is applied once). The biller dedupes by our payment
id, so asking again after a crash or a lost answer is safe.

"Retried until the biller answers": no answer (timeout, 5xx, circuit open, a garbled answer) is
not a failure of the event; the handler queues the next attempt with a capped backoff and ends,
so a biller that is down for hours never dead-letters a payment. A definitive answer (a 4xx by
the biller's own rules: no such bill, already paid, wrong amount) fails the payment.
"""

from __future__ import annotations

import datetime as dt
import weakref

import httpx
import structlog
from sqlalchemy import select, update

from cityhub import outbox
from cityhub.billing import flows, sandbox
from cityhub.billing.models import Payment, PaymentStatus, Refund
from cityhub.billing.service import PAY_BILLER, PaymentView, get_view_by_id
from cityhub.cities import service as cities
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Biller, PaymentOrder
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform import sandbox as mode
from cityhub.platform.config import Settings
from cityhub.platform.errors import BadGateway, CityHubError, Unavailable

log = structlog.get_logger("cityhub.billing")
RETRY_CAP_SECONDS = 600.0


class _DispatcherHub(ConnectorHub):
    """The connectors of one dispatcher: guards kept across events, and the dispatcher's own
    HTTP clients (closed with it): its pinned client for every address a city wrote reached
    without a client certificate, its plain one for the operator's simulator."""

    def __init__(self, settings: Settings, ctx: HandlerContext) -> None:
        super().__init__(settings)
        self.http, self.outbound_http = ctx.http, ctx.outbound

    def client(self, tls: dict[str, str] | None = None) -> httpx.AsyncClient:
        return self.outbound_http if tls is None else super().client(tls)

    def operator_client(self) -> httpx.AsyncClient:
        return self.http


_hubs: weakref.WeakKeyDictionary[httpx.AsyncClient, ConnectorHub] = weakref.WeakKeyDictionary()


def hub_for(ctx: HandlerContext) -> ConnectorHub:
    """The connector hub of the dispatcher running this handler."""
    hub = _hubs.get(ctx.http)
    if hub is None:
        hub = _hubs[ctx.http] = _DispatcherHub(ctx.settings, ctx)
    return hub


def _retry_delay(attempt: int) -> dt.timedelta:
    return dt.timedelta(seconds=outbox.backoff(attempt, base=1.0, cap=RETRY_CAP_SECONDS))


async def _again(ctx: HandlerContext, event: OutboxEvent, why: Exception) -> None:
    attempt = int(event.payload.get("attempt", 1))
    log.warning(
        "biller_no_answer", topic=event.topic, attempt=attempt, error=f"{type(why).__name__}: {why}"
    )
    await outbox.enqueue(
        session=ctx.session,
        topic=event.topic,
        city_id=event.city_id,
        payload={**event.payload, "attempt": attempt + 1},
        delay=_retry_delay(attempt),
    )


async def _biller(ctx: HandlerContext, city_id: int, service_id: int) -> Biller:
    async with ctx.db.unit_of_work() as session:
        service = await cities.get_service(session=session, city_id=city_id, service_id=service_id)
        assert service is not None
        return await hub_for(ctx).biller(session=session, service=service)


@registry.on(PAY_BILLER, "billing.pay_biller")
async def pay_biller(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Pay a confirmed payment to its biller; complete or fail it on the biller's answer."""
    assert event.city_id is not None
    payment_id = int(event.payload["payment_id"])
    view: PaymentView | None = None
    try:
        async with ctx.db.unit_of_work() as session:
            view = await get_view_by_id(
                session=session, city_id=event.city_id, payment_id=payment_id
            )
            if view.payment.status != PaymentStatus.CONFIRMED:
                return  # already final: a duplicate event, or an answer that came another way
            mode.use(mode.TEST if view.payment.sandbox else mode.LIVE)  # the payment's biller
            biller = await hub_for(ctx).biller(session=session, service=view.service)
        receipt = await biller.pay(order=_order(view))
    except (Unavailable, BadGateway) as exc:  # no usable answer (or a connector to fix)
        await ctx.session.execute(
            update(Payment)
            .where(Payment.id == payment_id)
            .values(biller_attempts=int(event.payload.get("attempt", 1)))
        )
        await _again(ctx, event, exc)
        return
    except CityHubError as exc:  # the biller's own rules said no
        if view is None:
            raise
        await flows.fail(
            session=ctx.session, view=view, code=exc.code, detail=exc.detail or exc.title
        )
        return
    if receipt.status != "accepted":
        await flows.fail(
            session=ctx.session,
            view=view,
            code="reversed_at_biller",
            detail=f"the biller answered {receipt.status}",
        )
        return
    await flows.complete(session=ctx.session, view=view, provider_ref=receipt.provider_ref)


def _order(view: PaymentView) -> PaymentOrder:
    return PaymentOrder(
        payment_id=view.payment.public_id,
        account=view.bill.account,
        bill_id=sandbox.biller_ref(view.bill.bill_ref),
        amount_fen=view.payment.amount_fen,
        currency=view.payment.currency,
    )


@registry.on(flows.REVERSE_AT_BILLER, "billing.reverse_at_biller")
async def reverse_at_biller(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Tell the biller a payment was refunded in full (a reversal on its side)."""
    refund_id = int(event.payload["refund_id"])
    async with ctx.db.unit_of_work() as session:
        row = (
            await session.execute(
                select(Refund, Payment)
                .join(Payment, Payment.id == Refund.payment_id)
                .where(Refund.id == refund_id)
            )
        ).first()
    if row is None or row[0].biller_status != "pending":
        return
    refund, payment = row
    mode.use(mode.TEST if payment.sandbox else mode.LIVE)  # a staff refund of a sandbox payment
    try:
        biller = await _biller(ctx, payment.city_id, payment.service_id)
        await biller.reverse(payment_id=payment.public_id, reason=refund.reason)
        outcome = "reversed"
    except (Unavailable, BadGateway) as exc:
        await _again(ctx, event, exc)
        return
    except CityHubError as exc:
        log.warning("biller_refused_reversal", refund=refund.public_id, code=exc.code)
        outcome = "refused"
    await ctx.session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.biller_status == "pending")
        .values(biller_status=outcome)
    )
