"""Complaints on the portal: a resident complains about one of their payments (from its receipt
page) or about a service, lists their complaints and follows one (its history, its deadline
in the city's time, the answer).

The portal is the hub's own channel: a complaint here is `complaints.service.create` as the
portal channel, for the signed-in resident's portal user, exactly as a channel's API call; a
paid-twice the ledger proves is refunded at once. A resident sees only their own complaints
(anyone else's answers 404). A refused complaint shows the form again and stores nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.complaints import service as complaints
from cityhub.complaints.enums import PAYMENT_TYPES, ComplaintType
from cityhub.complaints.schemas import ComplaintCreate
from cityhub.identity import audit
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError, NotFound, Unprocessable
from cityhub.web import signin
from cityhub.web.pages import PageError, redirect
from cityhub.web.portal.bills import own_payment
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    PORTAL_NAV,
    NavEntry,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(include_in_schema=False)
MY_COMPLAINTS = 50
# What a resident may complain of about a service: the services they use through the portal.
COMPLAINED_OF = (ServiceKind.BILL, ServiceKind.APPOINTMENT, ServiceKind.QUERY, ServiceKind.LOTTERY)


def _actor(visitor: Visitor) -> audit.Actor:
    return audit.Actor(type="resident", id=str(visitor.resident.id), name="portal resident")


async def _services(session: AsyncSession, city: City) -> list[Any]:
    """The city's services granted to the portal that a resident may complain about."""
    portal = await signin.get_portal_channel_or_raise(session=session)
    granted = await cities.granted_services(session=session, channel_id=portal.id, city_id=city.id)
    found = await cities.get_all_services(session=session, city_id=city.id, limit=1000)
    return [s for s in found if s.id in granted and s.kind in COMPLAINED_OF]


async def _form_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    city: City,
    *,
    payment_id: str,
    values: dict[str, str] | None = None,
    error: CityHubError | None = None,
) -> Response:
    view = await own_payment(session, city, visitor, payment_id) if payment_id else None
    return page(
        request,
        settings,
        "portal/complaint_new.html",
        status=error.status if error else 200,
        visitor=visitor,
        city=city,
        view=view,
        payment=view.read() if view else None,
        types=[t.value for t in ComplaintType if t in PAYMENT_TYPES] if view else [],
        services=[] if view else await _services(session, city),
        values=values or {},
        error=error,
    )


@router.get("/c/{slug}/complaints/new", response_class=HTMLResponse)
async def new_complaint(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    payment: str = "",
    service: str = "",
) -> Response:
    """The form: about this payment (what went wrong with it), or about a service."""
    city = await live_city_or_404(session, slug)
    values = {"service": service[:40]}
    return await _form_page(
        request, session, settings, visitor, city, payment_id=payment[:40], values=values
    )


@router.post("/c/{slug}/complaints/new", response_class=HTMLResponse)
async def file_complaint(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """File the complaint; on to its page (the form again, with what is wrong, if refused)."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    payment_id = form.get("payment_id", "")[:40]
    values = {k: form.get(k, "") for k in ("type", "service", "description")}
    try:
        if payment_id:
            await own_payment(session, city, visitor, payment_id)  # the resident's own only
        try:
            complaint_in = ComplaintCreate(
                type=ComplaintType(values["type"] if payment_id else ComplaintType.SERVICE),
                payment_id=payment_id or None,
                service=None if payment_id else values["service"][:40] or None,
                user_id=None if payment_id else visitor.user_id,
                description=values["description"][:1000],
            )
        except ValueError:
            raise Unprocessable(
                "say what went wrong", code="validation_failed", field="description"
            ) from None
        portal = await signin.get_portal_channel_or_raise(session=session)
        async with session.begin_nested():  # a refusal undoes only this complaint's rows
            row = await complaints.create(
                session=session,
                city_id=city.id,
                channel_id=portal.id,
                actor=_actor(visitor),
                complaint_in=complaint_in,
            )
    except CityHubError as exc:
        return await _form_page(
            request, session, settings, visitor, city, payment_id=payment_id, values=values,
            error=exc,
        )  # fmt: skip
    return redirect(f"/c/{city.slug}/complaints/{row.public_id}")


@router.get("/c/{slug}/complaints", response_class=HTMLResponse)
async def my_complaints(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """The resident's complaints in this city, newest first."""
    city = await live_city_or_404(session, slug)
    portal = await signin.get_portal_channel_or_raise(session=session)
    rows = await complaints.get_all(
        session=session,
        city_id=city.id,
        channel_id=portal.id,
        user_id=visitor.user_id,
        limit=MY_COMPLAINTS,
    )
    items = [await complaints.read(session=session, city_slug=city.slug, row=r) for r in rows]
    services = await cities.get_all_services(session=session, city_id=city.id, limit=1000)
    return page(
        request,
        settings,
        "portal/complaints.html",
        visitor=visitor,
        city=city,
        complaints=items,
        services={s.code: s for s in services},
    )


@router.get("/c/{slug}/complaints/{number}", response_class=HTMLResponse)
async def my_complaint(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    number: str,
) -> Response:
    """One of the resident's complaints: its history, its deadline and the answer."""
    city = await live_city_or_404(session, slug)
    portal = await signin.get_portal_channel_or_raise(session=session)
    try:
        row = await complaints.get_or_raise(
            session=session, city_id=city.id, public_id=number[:40], channel_id=portal.id
        )
    except NotFound:
        raise PageError(404, "complaint_not_found") from None
    if row.user_id != visitor.user_id:
        raise PageError(404, "complaint_not_found")
    item = await complaints.read(session=session, city_slug=city.slug, row=row)
    service = await cities.get_service(session=session, city_id=city.id, service_id=row.service_id)
    return page(
        request,
        settings,
        "portal/complaint.html",
        visitor=visitor,
        city=city,
        item=item,
        service=service,
    )


PORTAL_NAV.append(NavEntry("My complaints", "/complaints"))
