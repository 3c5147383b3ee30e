"""Open311 GeoReport v2 at `/open311/v2/{city}` (the jurisdiction is the city): discovery,
services and their definitions, requests (POST with an `api_key`, GET), tokens, and the
mySociety `servicerequestupdates` extension; JSON or XML by the path's extension.

Errors answer as the specification says (a list of `{code, description}`), with the field
at fault named in the description; the transaction is rolled back first, so a refused
request leaves nothing (open311_wire.py). Reading without a key shows the public view
(published cities only, locations coarsened, no descriptions); with a key, the channel's own
requests in full.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity.deps import VaultDep
from cityhub.identity.residents import get_for_channel_or_raise
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import BadRequest, NotFound, Unprocessable
from cityhub.requests import catalogue, keys, public, queue, reports, service
from cityhub.requests import open311_wire as wire
from cityhub.requests.models import RequestStatus
from cityhub.requests.photos import MAX_PHOTOS
from cityhub.requests.reports import Reporter
from cityhub.requests.schemas import ReportCreate

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.identity.models import Channel

router = APIRouter(prefix="/open311/v2/{city}", tags=["open311"])
SPEC = "http://wiki.open311.org/GeoReport_v2"
Fmt = Annotated[str, Path(max_length=4, description="json or xml")]
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug (jurisdiction)")]


async def _city(session: AsyncSession, slug: str, request: Request) -> City:
    jurisdiction = request.query_params.get("jurisdiction_id")
    if jurisdiction and jurisdiction != slug:
        raise BadRequest("jurisdiction_id is not this city", field="jurisdiction_id")
    return await cities.get_city_or_raise(session=session, slug=slug)


@router.get("/discovery.{fmt}")
async def discovery(
    request: Request, session: SessionDep, settings: SettingsDep, city: CitySlug, fmt: Fmt
) -> Response:
    """Where this city's GeoReport v2 endpoint is and what it speaks."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        url = f"{settings.base_url.rstrip('/')}/open311/v2/{found.slug}"
        return "discovery", {
            "changeset": found.created_at.isoformat(),
            "contact": f"{found.name_en} 12345",
            "key_service": f"{settings.base_url.rstrip('/')}/console",
            "endpoints": [
                {
                    "specification": SPEC,
                    "url": url,
                    "changeset": found.created_at.isoformat(),
                    "type": "production",
                    "formats": ["application/json", "text/xml"],
                }
            ],
        }

    return await wire.answer(session, fmt, run)


@router.get("/services.{fmt}")
async def services(request: Request, session: SessionDep, city: CitySlug, fmt: Fmt) -> Response:
    """The request types (GET Service List)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        lang = wire.language(request)
        types = await catalogue.get_all_types(session=session, city_id=found.id)
        return "services", [wire.service_entry(t, lang) for t in types]

    return await wire.answer(session, fmt, run)


@router.get("/services/{code}.{fmt}")
async def service_definition(
    request: Request,
    session: SessionDep,
    city: CitySlug,
    code: Annotated[str, Path(max_length=60)],
    fmt: Fmt,
) -> Response:
    """A request type's attributes (GET Service Definition)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        request_type = await catalogue.get_type_or_raise(
            session=session, city_id=found.id, code=code, field="service_code"
        )
        return "service_definition", wire.definition(request_type, wire.language(request))

    return await wire.answer(session, fmt, run)


@router.post("/requests.{fmt}")
async def create_request(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
    city: CitySlug,
    fmt: Fmt,
) -> Response:
    """Report a problem (POST Service Request) with the channel's `api_key`; `account_id` is
    the channel's user (registered with the hub), otherwise the report is anonymous; a
    `media` file is taken as a photo."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        form = await request.form(max_files=MAX_PHOTOS + 1, max_fields=100)
        api_key = form.get("api_key")
        if not isinstance(api_key, str) or not api_key:
            raise Unprocessable("send the api_key the city issued", field="api_key")
        channel = await keys.channel_of(session=session, city=found, api_key=api_key)
        lat, lon = wire.number(form, "lat"), wire.number(form, "long")
        try:
            report_in = ReportCreate(
                type=str(form.get("service_code") or ""),
                description=str(form.get("description") or "").strip() or "-",
                lat=lat,
                lon=lon,
                address=str(form.get("address_string") or "") or None,
                attributes=wire.attributes(form),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "service_code"
            raise Unprocessable(str(first["msg"]), code="validation_failed", field=where) from None
        resident_id = await _resident(session, channel, form.get("account_id"))
        contact = {
            k: str(form.get(k))
            for k in ("email", "first_name", "last_name", "phone", "device_id")
            if form.get(k)
        }
        uploads = [await f.read() for f in form.getlist("media") if not isinstance(f, str)]
        actor = audit.Actor(type="channel", id=channel.slug, name=channel.name, names=channel.names)
        done = await reports.report(
            session=session,
            vault=vault,
            data_dir=settings.data,
            city=found,
            reporter=Reporter(
                actor=actor, channel_id=channel.id, resident_id=resident_id, contact=contact
            ),
            report_in=report_in,
            uploads=uploads,
        )
        rid = done.request.public_id
        return "service_requests", [
            {"service_request_id": rid, "token": rid, "service_notice": "", "account_id": None}
        ]

    return await wire.answer(session, fmt, run)


async def _resident(session: AsyncSession, channel: Channel, account_id: Any) -> int | None:
    if not isinstance(account_id, str) or not account_id:
        return None
    try:
        found = await get_for_channel_or_raise(
            session=session, channel_id=channel.id, user_id=account_id
        )
    except NotFound:
        raise Unprocessable(
            "account_id is not a user this channel registered", field="account_id"
        ) from None
    return found.resident.id


async def _search(
    request: Request,
    session: AsyncSession,
    city: City,
    *,
    ids: list[str] | None,
    codes: list[str] | None,
    start: str | None,
    end: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    since, until = wire.window(start, end)
    wanted = wire.statuses(status)
    lang = wire.language(request)
    api_key = request.query_params.get("api_key")
    if not api_key:
        shown = await public.published(
            session=session, city=city, start=since, end=until, statuses=wanted,
            type_codes=codes, public_ids=ids,
        )  # fmt: skip
        return wire.public_requests(shown, lang)
    channel = await keys.channel_of(session=session, city=city, api_key=api_key)
    rows = await queue.of_channel(
        session=session, city_id=city.id, channel_id=channel.id, public_ids=ids,
        since=since, until=until, statuses=wanted, type_codes=codes,
    )  # fmt: skip
    return await wire.full_requests(session, lang, rows)


@router.get("/requests.{fmt}")
async def list_requests(
    request: Request,
    session: SessionDep,
    city: CitySlug,
    fmt: Fmt,
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Requests (GET Service Requests): by ids, or by type, status and a window of at most
    90 days (the last 90 days unless told otherwise)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        ids = [i for i in (service_request_id or "").split(",") if i] or None
        codes = [c for c in (service_code or "").split(",") if c] or None
        return "service_requests", await _search(
            request, session, found, ids=ids, codes=codes,
            start=start_date, end=end_date, status=status,
        )  # fmt: skip

    return await wire.answer(session, fmt, run)


@router.get("/requests/{request_id}.{fmt}")
async def get_request(
    request: Request,
    session: SessionDep,
    city: CitySlug,
    request_id: Annotated[str, Path(max_length=24)],
    fmt: Fmt,
) -> Response:
    """One request (GET Service Request)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        rows = await _search(
            request, session, found, ids=[request_id], codes=None, start=None, end=None,
            status=None,
        )  # fmt: skip
        if not rows:
            raise NotFound(f"no request {request_id!r}", field="service_request_id")
        return "service_requests", rows

    return await wire.answer(session, fmt, run)


@router.get("/tokens/{token}.{fmt}")
async def get_token(
    request: Request,
    session: SessionDep,
    city: CitySlug,
    token: Annotated[str, Path(max_length=24)],
    fmt: Fmt,
) -> Response:
    """The request a token stands for (requests are made at once: the token is its id)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        made = await service.get_or_raise(session=session, city_id=found.id, public_id=token)
        return "service_requests", [{"service_request_id": made.public_id, "token": token}]

    return await wire.answer(session, fmt, run)


@router.get("/servicerequestupdates.{fmt}")
async def request_updates(
    request: Request,
    session: SessionDep,
    city: CitySlug,
    fmt: Fmt,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The public steps of requests in a window (the mySociety extension): with a key, the
    channel's requests with their notes; without, a published city's status changes."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        since, until = wire.window(start_date, end_date)
        api_key = request.query_params.get("api_key")
        channel_id = None
        if api_key:
            channel = await keys.channel_of(session=session, city=found, api_key=api_key)
            channel_id = channel.id
        else:
            await public.require_published(session=session, city=found)
        rows = await queue.public_steps(
            session=session, city_id=found.id, since=since, until=until, channel_id=channel_id
        )
        return "service_request_updates", [
            {
                "update_id": str(e.id),
                "service_request_id": public_id,
                "status": wire.open311_status(RequestStatus(e.status)),
                "updated_datetime": e.at,
                "description": e.note if api_key else None,
                "media_url": None,
            }
            for e, public_id in rows
        ]

    return await wire.answer(session, fmt, run)
