"""The city console's working pages: overview with figures and a chart, payments (search,
detail with ledger postings and refunds), and the audit log with filters.

Every page is for one city the staff member works in; another city's pages answer 404 as if
they did not exist. The pages read through the pillars' own service functions.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments import service as appointments
from cityhub.billing import flows, ledger, search, standing
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus
from cityhub.billing.search import PaymentSearch
from cityhub.billing.settlement import day_bounds
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.deps import StaffCaller
from cityhub.notices import service as notices
from cityhub.outbox import usage
from cityhub.platform import texts
from cityhub.platform.clock import today_in
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound
from cityhub.queries.service import ANSWERED
from cityhub.web import i18n
from cityhub.web.console.home import NO_STORE, ConsoleStaff
from cityhub.web.pages import PageError, language, render

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
MAX_SERVICES = 1000  # a city's catalogue fits on one page
LIST_ROWS = 100
PAYMENT_PREFIX = "pay_"  # a payment's public number; anything else searched is an account


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


async def parties(session: AsyncSession, city: City, lang: str) -> dict[str, str]:
    """The names of the city's billers and of the channels, in the reader's language, as the
    labels of ledger accounts and delivery routes take them ("biller:7", "channel:4"), and
    by code and slug as settlement reports name the parties ("biller:water-bill")."""
    named: dict[str, str] = {}
    for c in await identity.get_all_channels(session=session):
        named[f"channel:{c.id}"] = named[f"channel:{c.slug}"] = texts.pick(c.names, lang, c.name)
    for s in await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES):
        named[f"biller:{s.id}"] = named[f"biller:{s.code}"] = i18n.name_in(s, lang)
    return named


@router.get("/console/c/{slug}/overview", response_class=HTMLResponse)
async def overview(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Today's and this month's payments, by service and by channel, as figures and a chart
    (summed by the database over every payment of the period); bookings, queries, and
    notices sent and acted on."""
    city = await _city(session, staff, slug)
    today = today_in(city.timezone)
    day_start, tomorrow = day_bounds(today, city.timezone)
    month_start, _ = day_bounds(today.replace(day=1), city.timezone)
    month = await search.figures(session=session, city_id=city.id, start=month_start, end=tomorrow)
    day = await search.figures(session=session, city_id=city.id, start=day_start, end=tomorrow)
    services = {
        s.id: s
        for s in await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES)
    }
    lang = language(request)
    channels = {
        c.id: texts.pick(c.names, lang, c.name)
        for c in await identity.get_all_channels(session=session)
    }
    by_service = [(services.get(i), str(i), fen) for i, fen in month.by_service]
    chart = {
        "labels": [i18n.name_in(s, lang) if s else code for s, code, _fen in by_service],
        "values": [round(fen / 100, 2) for _s, _code, fen in by_service],
    }
    return _page(
        request,
        staff,
        "console/overview.html",
        city,
        today_count=day.count,
        today_fen=day.amount_fen,
        month_count=month.count,
        month_fen=month.amount_fen,
        by_service=by_service,
        by_channel=[(channels.get(i, str(i)), fen) for i, fen in month.by_channel],
        chart=json.dumps(chart, ensure_ascii=False),
        activity=await _activity(session, city, today),
    )


def _date(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PageError(400, f"invalid_{field}") from None


async def _search_of(
    session: AsyncSession, city: City, form: dict[str, str]
) -> tuple[PaymentSearch, dict[str, str]]:
    """The search the filter form asks for, and the form as understood (a value that names
    nothing of the city, or a day that is not one, is a 400 page)."""
    status = form["status"]
    if status and status not in PaymentStatus.__members__.values():
        raise PageError(400, "invalid_status")
    channel_id = service_id = None
    if form["channel"]:
        channels = {c.slug: c.id for c in await identity.get_all_channels(session=session)}
        if form["channel"] not in channels:
            raise PageError(400, "invalid_channel")
        channel_id = channels[form["channel"]]
    if form["service"]:
        try:
            found = await cities.get_service_or_raise(
                session=session, city_id=city.id, code=form["service"]
            )
        except NotFound:
            raise PageError(400, "invalid_service") from None
        service_id = found.id
    first, last = _date(form["start"], "start"), _date(form["end"], "end")
    text = form["q"]
    return PaymentSearch(
        start=day_bounds(first, city.timezone)[0] if first else None,
        end=day_bounds(last, city.timezone)[1] if last else None,
        channel_id=channel_id,
        service_id=service_id,
        status=PaymentStatus(status) if status else None,
        payment_id=text if text.startswith(PAYMENT_PREFIX) else None,
        account=text if text and not text.startswith(PAYMENT_PREFIX) else None,
    ), form


Filter = Annotated[str, Query(max_length=80)]


@router.get("/console/c/{slug}/payments", response_class=HTMLResponse)
async def payment_list(
    request: Request,
    session: SessionDep,
    staff: ConsoleStaff,
    slug: str,
    status: Filter = "",
    channel: Filter = "",
    service: Filter = "",
    start: Filter = "",
    end: Filter = "",
    q: Filter = "",
) -> Response:
    """The city's payments, newest first, by creation day (from, to: the city's days),
    channel, service and status, or found by payment number or bill account."""
    city = await _city(session, staff, slug)
    form = {"status": status, "channel": channel, "service": service, "start": start,
            "end": end, "q": q.strip()}  # fmt: skip
    search_in, form = await _search_of(session, city, form)
    found = await search.search(
        session=session, city_id=city.id, search_in=search_in, limit=LIST_ROWS
    )
    services = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_SERVICES)
    return _page(
        request,
        staff,
        "console/payments.html",
        city,
        payments=[(view.read(), view.service, view.payment.channel_id) for view in found],
        form=form,
        statuses=[s.value for s in PaymentStatus],
        channels=await identity.get_all_channels(session=session),
        services=[s for s in services if s.kind == ServiceKind.BILL],
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
        bill=standing.of(view.bill, today_in(city.timezone)),
        service=view.service,
        parties=await parties(session, city, language(request)),
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
