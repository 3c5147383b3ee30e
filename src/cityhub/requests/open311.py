"""Open311 GeoReport v2 at `/open311/v2/{city}` (the jurisdiction is the city): discovery,
services and their definitions, requests (POST with an `api_key`, GET), tokens, and the
mySociety `servicerequestupdates` extension; JSON or XML by the path's extension.

Errors answer as the specification says (a list of `{code, description}`), with the field
at fault named in the description; the transaction is rolled back first, so a refused
request leaves nothing. Reading without a key shows the public view (published cities
only, locations coarsened, no descriptions); with a key, the channel's own requests in full.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity.residents import get_for_channel_or_raise
from cityhub.platform import uow
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep, SettingsDep, VaultDep
from cityhub.platform.errors import BadRequest, CityHubError, NotFound, Unprocessable
from cityhub.requests import catalogue, keys, public, reports, service, xml
from cityhub.requests.models import (
    OPEN_STATUSES,
    Department,
    RequestEvent,
    RequestStatus,
    RequestType,
    ServiceRequest,
)
from cityhub.requests.photos import MAX_PHOTOS
from cityhub.requests.reports import Reporter
from cityhub.requests.schemas import ReportCreate

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.identity.models import Channel

router = APIRouter(prefix="/open311/v2/{city}", tags=["open311"])
FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
WINDOW = dt.timedelta(days=90)
SPEC = "http://wiki.open311.org/GeoReport_v2"
Fmt = Annotated[str, Path(max_length=4, description="json or xml")]
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug (jurisdiction)")]
Handler = Callable[[], Awaitable[tuple[str, Any]]]
# The hub's names of a report's fields, as Open311 calls them.
FIELDS = {"type": "service_code", "lon": "long", "address": "address_string", "photos": "media"}


def _lang(request: Request) -> str:
    """The language of names: `lang`, else the first of Accept-Language, else zh-Hans."""
    wanted = (
        request.query_params.get("lang") or request.headers.get("accept-language", "")
    ).lower()
    if wanted.startswith("en"):
        return "en"
    if wanted.startswith(("zh-hant", "zh-tw", "zh-hk", "zh-mo")):
        return "zh-Hant"
    return "zh-Hans"


def _render(fmt: str, root: str, value: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(xml.render(root, value), status_code=status, media_type=FORMATS["xml"])
    body = json.dumps(value, ensure_ascii=False, default=_json_default)
    return Response(body, status_code=status, media_type=FORMATS["json"])


def _json_default(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def _answer(session: AsyncSession, fmt: str, handler: Handler) -> Response:
    """Run the handler; a CityHubError becomes the specification's error list, after the
    transaction was rolled back."""
    if fmt not in FORMATS:
        return _render("json", "errors", [{"code": 404, "description": "use .json or .xml"}], 404)
    try:
        root, value = await handler()
    except CityHubError as exc:
        await uow.undo(session)
        text = exc.detail or exc.title
        if exc.field:
            head, _, rest = exc.field.partition(".")
            field = FIELDS.get(head, head) + (f".{rest}" if rest else "")
            text = f"{field}: {text}"
        return _render(fmt, "errors", [{"code": exc.status, "description": text}], exc.status)
    return _render(fmt, root, value)


async def _city(session: AsyncSession, slug: str, request: Request) -> City:
    jurisdiction = request.query_params.get("jurisdiction_id")
    if jurisdiction and jurisdiction != slug:
        raise BadRequest("jurisdiction_id is not this city", field="jurisdiction_id")
    return await cities.get_city_or_raise(session=session, slug=slug)


def _service(request_type: RequestType, lang: str) -> dict[str, Any]:
    return {
        "service_code": request_type.code,
        "service_name": request_type.names.get(lang) or request_type.names["en"],
        "description": request_type.descriptions.get(lang) or request_type.descriptions["en"],
        "metadata": bool(request_type.attributes),
        "type": "realtime",
        "keywords": request_type.keywords,
        "group": request_type.group,
    }


def _definition(request_type: RequestType, lang: str) -> dict[str, Any]:
    return {
        "service_code": request_type.code,
        "attributes": [
            {
                "variable": True,
                "code": a["code"],
                "datatype": a["datatype"],
                "required": bool(a.get("required")),
                "datatype_description": None,
                "order": a.get("order", 0),
                "description": a["descriptions"].get(lang) or a["descriptions"]["en"],
                "values": [
                    {"key": v["key"], "name": v["names"].get(lang) or v["names"]["en"]}
                    for v in a.get("values", [])
                ],
            }
            for a in request_type.attributes
        ],
    }


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

    return await _answer(session, fmt, run)


@router.get("/services.{fmt}")
async def services(request: Request, session: SessionDep, city: CitySlug, fmt: Fmt) -> Response:
    """The request types (GET Service List)."""

    async def run() -> tuple[str, Any]:
        found = await _city(session, city, request)
        lang = _lang(request)
        types = await catalogue.get_all_types(session=session, city_id=found.id)
        return "services", [_service(t, lang) for t in types]

    return await _answer(session, fmt, run)


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
        return "service_definition", _definition(request_type, _lang(request))

    return await _answer(session, fmt, run)


def _attributes(form: Any) -> dict[str, Any]:
    """`attribute[code]=v` and `attribute[code][]=v` fields as {code: value or [values]}."""
    found: dict[str, Any] = {}
    for name, value in form.multi_items():
        if not (isinstance(value, str) and name.startswith("attribute[")):
            continue
        inner = name[len("attribute[") :]
        code, _, rest = inner.partition("]")
        if rest == "[]":
            found.setdefault(code, []).append(value)
        else:
            found[code] = value
    return found


def _float(form: Any, name: str) -> float | None:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        return float(raw)
    except ValueError:
        raise Unprocessable(f"{name} must be a number", field=name) from None


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
        lat, lon = _float(form, "lat"), _float(form, "long")
        try:
            report_in = ReportCreate(
                type=str(form.get("service_code") or ""),
                description=str(form.get("description") or "").strip() or "-",
                lat=lat,
                lon=lon,
                address=str(form.get("address_string") or "") or None,
                attributes=_attributes(form),
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
        actor = audit.Actor(type="channel", id=channel.slug, name=channel.name)
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

    return await _answer(session, fmt, run)


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


def _window(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    def parse(value: str, field: str) -> dt.datetime:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"{value!r} is not a W3C date and time", field=field) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

    until = parse(end, "end_date") if end else utcnow()
    since = parse(start, "start_date") if start else until - WINDOW
    if until - since > WINDOW or until < since:
        raise BadRequest("start_date to end_date spans at most 90 days", field="start_date")
    return since, until


def _statuses(status: str | None) -> list[RequestStatus] | None:
    if not status:
        return None
    wanted = {s.strip() for s in status.split(",")}
    if not wanted <= {"open", "closed"}:
        raise BadRequest("status is open or closed", field="status")
    found: list[RequestStatus] = []
    if "open" in wanted:
        found += OPEN_STATUSES
    if "closed" in wanted:
        found += [RequestStatus.RESOLVED, RequestStatus.CLOSED]
    return found


def open311_status(status: RequestStatus) -> str:
    """A request's status in Open311's two words."""
    return "open" if status in OPEN_STATUSES else "closed"


async def _full(
    session: AsyncSession, city: City, lang: str, rows: list[ServiceRequest]
) -> list[dict[str, Any]]:
    """A channel's own requests in full."""
    found = []
    for r in rows:
        request_type = await session.get(RequestType, r.type_id)
        department = await session.get(Department, r.department_id)
        assert request_type is not None and department is not None
        notes = [
            e.note
            for e in await service.timeline_of(session=session, request=r, internal=False)
            if e.note
        ]
        found.append(
            {
                "service_request_id": r.public_id,
                "status": open311_status(r.status),
                "status_notes": notes[-1] if notes else None,
                "service_name": request_type.names.get(lang) or request_type.names["en"],
                "service_code": request_type.code,
                "description": r.description,
                "agency_responsible": department.names.get(lang) or department.names["en"],
                "service_notice": None,
                "requested_datetime": r.created_at,
                "updated_datetime": r.updated_at,
                "expected_datetime": r.due_at,
                "address": r.address,
                "address_id": None,
                "zipcode": None,
                "lat": r.lat,
                "long": r.lon,
                "media_url": None,
            }
        )
    return found


def _public(rows: list[public.PublicRequest], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "service_request_id": r.id,
            "status": open311_status(r.status),
            "service_name": r.type_names.get(lang) or r.type_names["en"],
            "service_code": r.type,
            "requested_datetime": r.requested_at,
            "updated_datetime": r.updated_at,
            "expected_datetime": r.expected_at,
            "lat": r.lat,
            "long": r.lon,
        }
        for r in rows
    ]


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
    since, until = _window(start, end)
    statuses = _statuses(status)
    lang = _lang(request)
    api_key = request.query_params.get("api_key")
    if not api_key:
        shown = await public.published(
            session=session, city=city, start=since, end=until, statuses=statuses,
            type_codes=codes, public_ids=ids,
        )  # fmt: skip
        return _public(shown, lang)
    channel = await keys.channel_of(session=session, city=city, api_key=api_key)
    query = select(ServiceRequest).where(
        ServiceRequest.city_id == city.id, ServiceRequest.channel_id == channel.id
    )
    if ids:
        query = query.where(ServiceRequest.public_id.in_(ids))
    else:
        query = query.where(ServiceRequest.created_at >= since, ServiceRequest.created_at < until)
    if statuses:
        query = query.where(ServiceRequest.status.in_(statuses))
    if codes:
        query = query.join(RequestType, RequestType.id == ServiceRequest.type_id).where(
            RequestType.code.in_(codes)
        )
    rows = list(await session.scalars(query.order_by(ServiceRequest.id.desc()).limit(1000)))
    return await _full(session, city, lang, rows)


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

    return await _answer(session, fmt, run)


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

    return await _answer(session, fmt, run)


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

    return await _answer(session, fmt, run)


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
        since, until = _window(start_date, end_date)
        api_key = request.query_params.get("api_key")
        query = (
            select(RequestEvent, ServiceRequest.public_id)
            .join(ServiceRequest, ServiceRequest.id == RequestEvent.request_id)
            .where(
                RequestEvent.city_id == found.id,
                RequestEvent.public.is_(True),
                RequestEvent.at >= since,
                RequestEvent.at < until,
            )
        )
        if api_key:
            channel = await keys.channel_of(session=session, city=found, api_key=api_key)
            query = query.where(ServiceRequest.channel_id == channel.id)
        else:
            await public.require_published(session=session, city=found)
        rows = (await session.execute(query.order_by(RequestEvent.id).limit(1000))).all()
        return "service_request_updates", [
            {
                "update_id": str(e.id),
                "service_request_id": public_id,
                "status": open311_status(RequestStatus(e.status)),
                "updated_datetime": e.at,
                "description": e.note if api_key else None,
                "media_url": None,
            }
            for e, public_id in rows
        ]

    return await _answer(session, fmt, run)
