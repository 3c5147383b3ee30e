"""The city console's working pages: overview with figures and a chart, payments (search,
detail with ledger postings and refunds), and the audit log with filters.

Every page is for one city the staff member works in; another city's pages answer 404 as if
they did not exist. The pages read through the pillars' own service functions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import service as appointments
from cityhub.billing import flows, ledger
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.deps import StaffCaller
from cityhub.notices import service as notices
from cityhub.outbox import usage
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.queries.service import ANSWERED
from cityhub.web.console.home import NO_STORE, ConsoleStaff
from cityhub.web.pages import PageError, render

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
OVERVIEW_ROWS = 1000  # the month's payments read for the figures (enough for a pilot city)
LIST_ROWS = 100
PAID = {PaymentStatus.CONFIRMED, PaymentStatus.COMPLETED}


async def _city(session: AsyncSession, staff: StaffCaller, slug: str) -> City:
    """A city the staff member works in; any other does not exist here."""
    city = await cities.get_city_by_slug(session=session, slug=slug[:60])
    if city is None or not staff.in_city(city.id):
        raise PageError(404, "city_not_found")
    return city


def _page(
    request: Request, staff: StaffCaller, template: str, city: City, **context: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        headers=NO_STORE,
        staff=staff.staff,
        city=city,
        csrf_token=staff.session.csrf_token,
        section=template.rsplit("/", 1)[-1].removesuffix(".html"),
        **context,
    )


async def _activity(session: AsyncSession, city: City, today: dt.date) -> dict[str, dict[str, int]]:
    """Bookings, queries, notices sent and acted on (with the amount paid after them), today
    and this month in the city's time."""
    tz = ZoneInfo(city.timezone)
    starts = {
        "today": dt.datetime.combine(today, dt.time(), tz),
        "month": dt.datetime.combine(today.replace(day=1), dt.time(), tz),
    }
    figures: dict[str, dict[str, int]] = {}
    for period, start in starts.items():
        bookings = await appointments.count_created_since(
            session=session, city_id=city.id, since=start
        )
        sent, acted, paid = await notices.activity_since(
            session=session, city_id=city.id, since=start
        )
        queries = await usage.between(
            session=session, city_id=city.id, metric=ANSWERED, first=start.date(), last=today
        )
        figures[period] = {
            "bookings": bookings,
            "queries": queries,
            "notices": sent,
            "acted": acted,
            "acted_fen": paid,
        }
    return figures


@router.get("/console/c/{slug}/overview", response_class=HTMLResponse)
async def overview(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Today's and this month's payments, by service and by channel, as figures and a chart;
    bookings, queries, and notices sent and acted on."""
    city = await _city(session, staff, slug)
    tz = ZoneInfo(city.timezone)
    today = today_in(city.timezone)
    rows = await payments.get_all(
        session=session, city_id=city.id, channel_id=None, limit=OVERVIEW_ROWS
    )
    channels = {c.id: c.name for c in await identity.get_all_channels(session=session)}
    month_count = today_count = month_fen = today_fen = 0
    by_service: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    for _id, view in rows:
        p = view.payment
        if p.status not in PAID or p.confirmed_at is None:
            continue
        day = p.confirmed_at.astimezone(tz).date()
        if (day.year, day.month) != (today.year, today.month):
            continue
        month_count += 1
        month_fen += p.amount_fen
        if day == today:
            today_count += 1
            today_fen += p.amount_fen
        by_service[view.service.code] += p.amount_fen
        by_channel[channels.get(p.channel_id, str(p.channel_id))] += p.amount_fen
    services = {
        s.code: s
        for s in await cities.get_all_services(
            session=session, city_id=city.id, limit=OVERVIEW_ROWS
        )
    }
    chart = {
        "labels": list(by_service),
        "values": [round(v / 100, 2) for v in by_service.values()],
    }
    return _page(
        request,
        staff,
        "console/overview.html",
        city,
        today_count=today_count,
        today_fen=today_fen,
        month_count=month_count,
        month_fen=month_fen,
        by_service=[(services.get(code), code, fen) for code, fen in by_service.most_common()],
        by_channel=by_channel.most_common(),
        chart=json.dumps(chart, ensure_ascii=False),
        activity=await _activity(session, city, today),
    )


@router.get("/console/c/{slug}/payments", response_class=HTMLResponse)
async def payment_list(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The city's payments, newest first, by status."""
    city = await _city(session, staff, slug)
    wanted = PaymentStatus(status) if status in PaymentStatus.__members__.values() else None
    rows = await payments.get_all(
        session=session, city_id=city.id, channel_id=None, status=wanted, limit=LIST_ROWS
    )
    return _page(
        request,
        staff,
        "console/payments.html",
        city,
        payments=[view.read() for _id, view in rows],
        status_filter=wanted.value if wanted else "",
        statuses=[s.value for s in PaymentStatus],
    )


@router.get("/console/c/{slug}/payments/{payment_id}", response_class=HTMLResponse)
async def payment_detail(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str, payment_id: str
) -> Response:
    """One payment with its ledger postings and refunds."""
    city = await _city(session, staff, slug)
    view = await payments.get_view_or_raise(
        session=session, city_id=city.id, public_id=payment_id[:40], channel_id=None
    )
    postings = await ledger.postings_of(
        session=session, city_id=city.id, payment_id=view.payment.id
    )
    refunds = await flows.refunds_of(session=session, payment=view.payment)
    return _page(
        request,
        staff,
        "console/payment.html",
        city,
        payment=view.read(),
        postings=postings,
        refunds=[flows.refund_read(r, view.payment) for r in refunds],
    )


@router.get("/console/c/{slug}/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    action: Annotated[str, Query(max_length=80)] = "",
    actor: Annotated[str, Query(max_length=120)] = "",
) -> Response:
    """The city's audit log, newest first, filtered by action and actor."""
    city = await _city(session, staff, slug)
    entries = await audit.list_entries(
        session=session,
        city_ids=[city.id],
        action=action.strip() or None,
        actor_id=actor.strip() or None,
        limit=LIST_ROWS,
    )
    return _page(
        request, staff, "console/audit.html", city, entries=entries, action=action, actor=actor
    )
