"""Service requests on the portal: the report form (a photo from the camera or a file, a
location or an address, the type's attributes), and the resident's requests with their
timeline, reopen and rating.

The portal is the hub's own channel: a report here is `requests.reports.report` with the
portal channel as the reporter and the signed-in resident (or nobody: a visitor may report
anonymously and is shown the request's number). A refused report shows the form again with
the field at fault, and stores nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity.deps import VaultDep
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import CityHubError, NotFound
from cityhub.requests import catalogue, handling, public, queue, reports, service
from cityhub.requests.enums import OPEN_STATUSES
from cityhub.requests.photos import MAX_PHOTOS
from cityhub.requests.schemas import ReportCreate
from cityhub.web import signin
from cityhub.web.pages import PageError, language, redirect
from cityhub.web.portal.home import live_city_or_404
from cityhub.web.portal.visitor import (
    CSRF_COOKIE,
    CSRF_FIELD,
    PORTAL_NAV,
    SERVICE_PAGES,
    NavEntry,
    OptionalVisitor,
    SignedInVisitor,
    Visitor,
    check_csrf,
    page,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.requests.models import RequestType

router = APIRouter(include_in_schema=False)


def _actor(visitor: Visitor | None) -> audit.Actor:
    if visitor is None:
        return audit.Actor(type="resident", id="anonymous", name="portal visitor")
    return audit.Actor(type="resident", id=str(visitor.resident.id), name="portal resident")


def _attributes(request_type: RequestType, form: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in request_type.attributes:
        name = f"a_{attribute['code']}"
        if attribute["datatype"] == "multivaluelist":
            values = [v for v in form.getlist(name) if isinstance(v, str)]
            if values:
                found[attribute["code"]] = values
        else:
            value = form.get(name)
            if isinstance(value, str) and value.strip():
                found[attribute["code"]] = value.strip()
    return found


def _float(raw: Any) -> float | None:
    try:
        return float(raw) if isinstance(raw, str) and raw.strip() else None
    except ValueError:
        return None


async def _form_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor | None,
    city: City,
    chosen: str,
    *,
    status: int = 200,
    error: CityHubError | None = None,
    values: dict[str, Any] | None = None,
    nearby: list[Any] | None = None,
) -> Response:
    types = await catalogue.get_all_types(session=session, city_id=city.id)
    request_type = next((t for t in types if t.code == chosen), None)
    return page(
        request,
        settings,
        "portal/request_new.html",
        status=status,
        visitor=visitor,
        city=city,
        types=types,
        chosen=request_type,
        lang=language(request),
        error=error,
        values=values or {},
        nearby=nearby or [],
        max_photos=MAX_PHOTOS,
    )


@router.get("/c/{slug}/requests/new", response_class=HTMLResponse)
async def new_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
    type: str = "",
) -> Response:
    """The report form: choose the type, then say what and where."""
    city = await live_city_or_404(session, slug)
    return await _form_page(request, session, settings, visitor, city, type[:60])


@router.post("/c/{slug}/requests/new", response_class=HTMLResponse)
async def submit_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    visitor: OptionalVisitor,
    slug: str,
) -> Response:
    """Report the problem (or follow the same one nearby); the form again on bad input."""
    city = await live_city_or_404(session, slug)
    form = await request.form(max_files=MAX_PHOTOS + 1, max_fields=60)
    sent = form.get(CSRF_FIELD)
    if not (isinstance(sent, str) and sent and sent == request.cookies.get(CSRF_COOKIE)):
        raise PageError(403, "csrf_failed")
    code = str(form.get("type") or "")[:60]
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        request_type = await catalogue.get_type_or_raise(
            session=session, city_id=city.id, code=code
        )
        report_in = ReportCreate(
            type=code,
            description=str(form.get("description") or "").strip()[:4000] or "-",
            lat=_float(form.get("lat")),
            lon=_float(form.get("lon")),
            address=str(form.get("address") or "").strip()[:300] or None,
            attributes=_attributes(request_type, form),
            share_location=form.get("share_location") == "1",
            same_as=str(form.get("same_as") or "")[:24] or None,
        )
        uploads = [
            data
            for f in form.getlist("photos")
            if not isinstance(f, str) and (data := await f.read())
        ]
        portal = await signin.get_portal_channel_or_raise(session=session)
        async with session.begin_nested():  # a refusal undoes only this report's rows
            done = await reports.report(
                session=session,
                vault=vault,
                data_dir=settings.data,
                city=city,
                reporter=reports.Reporter(
                    actor=_actor(visitor),
                    channel_id=portal.id,
                    resident_id=visitor.resident.id if visitor else None,
                ),
                report_in=report_in,
                uploads=uploads,
                link=f"{settings.base_url.rstrip('/')}/c/{city.slug}/requests",
            )
    except (CityHubError, ValueError) as exc:
        error = exc if isinstance(exc, CityHubError) else CityHubError(str(exc), field="form")
        return await _form_page(
            request,
            session,
            settings,
            visitor,
            city,
            code,
            status=error.status if isinstance(exc, CityHubError) else 422,
            error=error,
            values=values,
        )
    if visitor is None:
        return page(
            request,
            settings,
            "portal/request_thanks.html",
            city=city,
            number=done.request.public_id,
        )
    return redirect(f"/c/{city.slug}/requests/{done.request.public_id}")


@router.get("/c/{slug}/requests/nearby", response_class=HTMLResponse)
async def same_problem(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
    type: str = "",
    lat: str = "",
    lon: str = "",
) -> Response:
    """The form again, with the open requests of the type near the point ("same problem?")."""
    city = await live_city_or_404(session, slug)
    y, x = _float(lat), _float(lon)
    found: list[Any] = []
    error = None
    if y is not None and x is not None:
        try:
            found = await reports.same_problem(
                session=session, city=city, type_code=type[:60], lat=y, lon=x
            )
        except CityHubError as exc:
            error = exc
    return await _form_page(
        request,
        session,
        settings,
        visitor,
        city,
        type[:60],
        error=error,
        values={"lat": lat[:20], "lon": lon[:20]},
        nearby=found,
    )


@router.get("/c/{slug}/requests/public", response_class=HTMLResponse)
async def public_requests(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: OptionalVisitor,
    slug: str,
) -> Response:
    """The city's open requests of the last 90 days as anyone may see them: type, rough
    location, status and dates (cities that publish them only)."""
    city = await live_city_or_404(session, slug)
    now = utcnow()
    try:
        shown = await public.published(
            session=session,
            city=city,
            start=now - dt.timedelta(days=90),
            end=now,
            statuses=list(OPEN_STATUSES),
        )
    except CityHubError:
        raise PageError(404, "requests_not_published") from None
    return page(
        request,
        settings,
        "portal/requests_public.html",
        visitor=visitor,
        city=city,
        requests=shown,
        lang=language(request),
    )


@router.get("/c/{slug}/requests", response_class=HTMLResponse)
async def my_requests(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
) -> Response:
    """The resident's requests in this city, newest first."""
    city = await live_city_or_404(session, slug)
    found = await queue.of_resident(
        session=session, city_id=city.id, resident_id=visitor.resident.id
    )
    shown = [await service.read_of(session=session, city=city, request=r) for r in found]
    types = await catalogue.get_all_types(session=session, city_id=city.id, active_only=False)
    names = {t.code: t.names for t in types}
    return page(
        request,
        settings,
        "portal/requests.html",
        visitor=visitor,
        city=city,
        requests=shown,
        names=names,
        lang=language(request),
    )


async def _mine(session: AsyncSession, city: City, visitor: Visitor, number: str) -> Any:
    try:
        found = await service.get_or_raise(session=session, city_id=city.id, public_id=number[:24])
    except NotFound:
        raise PageError(404, "request_not_found") from None
    followers = await service.followers_of(session=session, request=found)
    if visitor.resident.id not in followers and found.resident_id != visitor.resident.id:
        raise PageError(404, "request_not_found")
    return found


async def _request_page(
    request: Request,
    session: AsyncSession,
    settings: Any,
    visitor: Visitor,
    city: City,
    number: str,
    *,
    status: int = 200,
    error: CityHubError | None = None,
) -> Response:
    found = await _mine(session, city, visitor, number)
    read = await service.read_of(session=session, city=city, request=found, timeline=True)
    types = await catalogue.get_all_types(session=session, city_id=city.id, active_only=False)
    return page(
        request,
        settings,
        "portal/request.html",
        status=status,
        visitor=visitor,
        city=city,
        item=read,
        names={t.code: t.names for t in types},
        lang=language(request),
        error=error,
        reporter=found.resident_id == visitor.resident.id,
    )


@router.get("/c/{slug}/requests/{number}", response_class=HTMLResponse)
async def my_request(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    number: str,
) -> Response:
    """One of the resident's requests: its timeline, and reopen or rate once resolved."""
    city = await live_city_or_404(session, slug)
    return await _request_page(request, session, settings, visitor, city, number)


@router.post("/c/{slug}/requests/{number}/{action}", response_class=HTMLResponse)
async def act(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    visitor: SignedInVisitor,
    slug: str,
    number: str,
    action: str,
) -> Response:
    """Reopen (not fixed) or rate (1 to 5) the resident's own request."""
    form = await check_csrf(request)
    city = await live_city_or_404(session, slug)
    found = await _mine(session, city, visitor, number)
    try:
        async with session.begin_nested():  # a refusal undoes only this step
            if action == "reopen":
                await handling.reopen(
                    session=session,
                    city=city,
                    actor=_actor(visitor),
                    resident_id=visitor.resident.id,
                    request=found,
                    reason=form.get("note", "").strip()[:4000] or "-",
                )
            elif action == "rate":
                rating = form.get("rating", "")
                if rating not in {"1", "2", "3", "4", "5"}:
                    raise CityHubError("give a rating from 1 to 5", field="rating")
                await handling.rate(
                    session=session,
                    city=city,
                    actor=_actor(visitor),
                    resident_id=visitor.resident.id,
                    request=found,
                    rating=int(rating),
                    comment=form.get("note", "").strip()[:500] or None,
                )
            else:
                raise PageError(404, "not_found")
    except CityHubError as exc:
        return await _request_page(
            request, session, settings, visitor, city, number, status=exc.status, error=exc
        )
    return redirect(f"/c/{city.slug}/requests/{found.public_id}")


SERVICE_PAGES["request"] = "/c/{slug}/requests/new"
PORTAL_NAV.append(NavEntry("My requests", "/requests"))
