"""Routes of service requests: the request types (public), reports and the resident's steps
(channels), and a request as its channel or its department's staff see it; with the routes of
staff_api.py (handling, the SLA board, the city admins' settings) under the same router."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.identity.deps import (
    ChannelCaller,
    CurrentCaller,
    CurrentChannel,
    LiveWritesOnly,
    StaffCaller,
    VaultDep,
)
from cityhub.identity.residents import get_for_channel_or_raise
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import BadRequest, NotFound, Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep
from cityhub.requests import catalogue, handling, keys, queue, reports, service, staff_api
from cityhub.requests.models import ServiceRequest
from cityhub.requests.photos import MAX_PHOTOS
from cityhub.requests.reports import Reporter
from cityhub.requests.schemas import (
    CitySlug,
    NearbyRead,
    ReportCreate,
    RequestId,
    RequestRead,
    RequestTypeRead,
    ResidentAction,
    TypeCode,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["requests"], dependencies=[LiveWritesOnly])
SCOPE = "requests:write"
# A user's requests or a queue are read whole up to this many, then paged in their order.
QUEUE_READ = 500


async def require_channel(session: AsyncSession, caller: ChannelCaller, city: City) -> None:
    """The channel needs the `requests:write` scope and a grant of the city's hotline."""
    caller.require(SCOPE)
    await keys.require_granted(
        session=session, city=city, channel_id=caller.channel.id, field="city"
    )


async def _resident_id(session: AsyncSession, caller: ChannelCaller, user_id: str) -> int:
    try:
        found = await get_for_channel_or_raise(
            session=session, channel_id=caller.channel.id, user_id=user_id
        )
    except NotFound:
        raise Unprocessable(
            f"no user {user_id!r} on this channel: register them first (POST /v1/residents)",
            code="resident_not_found",
            field="user_id",
        ) from None
    return found.resident.id


# -- request types (public) -------------------------------------------------------------------


@router.get(
    "/cities/{city}/request-types",
    operation_id="listRequestTypes",
    summary="List request types",
    response_model=Page[RequestTypeRead],
)
async def list_types(session: SessionDep, city: CitySlug, page: PageDep) -> Page[RequestTypeRead]:
    """What can be reported in the city (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    found = await catalogue.get_all_types(session=session, city_id=found_city.id)
    return page.slice(
        [await service.type_read_of(session=session, request_type=t) for t in found],
        key=lambda x: x.code,
    )


@router.get(
    "/cities/{city}/request-types/{code}",
    operation_id="getRequestType",
    summary="Get a request type",
    response_model=RequestTypeRead,
)
async def get_type(session: SessionDep, city: CitySlug, code: TypeCode) -> RequestTypeRead:
    """One request type and the attributes it asks (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    found = await catalogue.get_type_or_raise(session=session, city_id=found_city.id, code=code)
    return await service.type_read_of(session=session, request_type=found)


# -- reporting (channels) --------------------------------------------------------------------


REPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ReportCreate"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["report"],
                    "properties": {
                        "report": {"type": "string", "description": "ReportCreate as JSON"},
                        "photos": {
                            "type": "array",
                            "maxItems": MAX_PHOTOS,
                            "items": {"type": "string", "format": "binary"},
                        },
                    },
                }
            },
        },
    }
}


async def read_report(request: Request) -> tuple[ReportCreate, list[bytes]]:
    """The report and its photos from a JSON or a multipart body (422 naming the field)."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form(max_files=MAX_PHOTOS + 1, max_fields=20)
            raw = form.get("report")
            if not isinstance(raw, str):
                raise Unprocessable("send the report as a JSON text field", field="report")
            report_in = ReportCreate.model_validate_json(raw)
            uploads = [await f.read() for f in form.getlist("photos") if not isinstance(f, str)]
            return report_in, uploads
        return ReportCreate.model_validate_json(await request.body()), []
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        if first["type"] == "json_invalid":
            raise BadRequest(
                "the report is not valid JSON", code="malformed_json", field="report"
            ) from None
        raise Unprocessable(
            f"{where}: {first['msg']}", code="validation_failed", field=where
        ) from None


@router.post(
    "/cities/{city}/requests",
    operation_id="createServiceRequest",
    summary="Report a problem",
    status_code=201,
    response_model=RequestRead,
    openapi_extra=route_meta(
        also_succeeds={200: "the report joined the same open request (`same_as`)"},
        requestBody=REPORT_BODY["requestBody"],
    ),
)
async def report(
    request: Request,
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
    caller: CurrentChannel,
    city: CityDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Report a problem for the channel's user, or anonymously (no `user_id`): JSON, or
    multipart with up to three photos. The same key and body answer the first request."""
    await require_channel(session, caller, city)
    report_in, uploads = await read_report(request)
    resident_id = (
        await _resident_id(session, caller, report_in.user_id) if report_in.user_id else None
    )
    reporter = Reporter(actor=caller.actor, channel_id=caller.channel.id, resident_id=resident_id)
    done = await reports.report(
        session=session,
        vault=vault,
        data_dir=settings.data,
        city=city,
        reporter=reporter,
        report_in=report_in,
        uploads=uploads,
    )
    read = await service.read_of(session=session, city=city, request=done.request)
    return await idem.respond(201 if done.created else 200, read)


@router.get(
    "/cities/{city}/requests/nearby",
    operation_id="listNearbyRequests",
    summary="List open requests nearby",
    response_model=Page[NearbyRead],
)
async def nearby(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    type: Annotated[str, Query(max_length=60, description="the request type's code")],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    page: PageDep,
) -> Page[NearbyRead]:
    """ "The same problem?": open requests of the type near the point, to follow instead."""
    if isinstance(caller, ChannelCaller):
        await require_channel(session, caller, city)
    return page.slice(
        await reports.same_problem(session=session, city=city, type_code=type, lat=lat, lon=lon),
        key=lambda x: x.id,
    )


async def _visible(
    session: AsyncSession, caller: ChannelCaller | StaffCaller, city: City, public_id: str
) -> tuple[ServiceRequest, bool]:
    """The request if the caller may see it (its channel, or its department's staff), and
    whether the caller sees internal steps."""
    if isinstance(caller, StaffCaller):
        handler = await service.handler_of(session=session, city=city, caller=caller)
        found = await service.get_for_handler_or_raise(
            session=session, city=city, handler=handler, public_id=public_id
        )
        return found, True
    await require_channel(session, caller, city)
    found = await service.get_or_raise(session=session, city_id=city.id, public_id=public_id)
    if found.channel_id != caller.channel.id:
        raise NotFound(f"no request {public_id!r}", code="request_not_found")
    return found, False


@router.get(
    "/cities/{city}/requests/{request_id}",
    operation_id="getServiceRequest",
    summary="Get a request and its timeline",
    response_model=RequestRead,
)
async def get_request(
    session: SessionDep, caller: CurrentCaller, city: CityDep, request_id: RequestId
) -> RequestRead:
    """A request and its timeline: the reporting channel sees the public steps, the
    department's staff every step."""
    found, internal = await _visible(session, caller, city, request_id)
    return await service.read_of(
        session=session, city=city, request=found, timeline=True, internal=internal
    )


@router.get(
    "/cities/{city}/requests/{request_id}/photos/{photo_id}",
    operation_id="getRequestPhoto",
    summary="Get a request's photo",
)
async def get_photo(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentCaller,
    city: CityDep,
    request_id: RequestId,
    photo_id: Annotated[str, Path(max_length=40)],
) -> FileResponse:
    """A photo of a request (its channel and its department's staff)."""
    found, _ = await _visible(session, caller, city, request_id)
    for photo in await service.photos_of(session=session, request=found):
        if photo.public_id == photo_id:
            return FileResponse(settings.data / photo.path, media_type=photo.content_type)
    raise NotFound(f"no photo {photo_id!r}", code="photo_not_found", field="photo_id")


@router.get(
    "/cities/{city}/requests",
    operation_id="listServiceRequests",
    summary="List requests",
    response_model=Page[RequestRead],
)
async def list_requests(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    department: Annotated[str | None, Query(max_length=60)] = None,
) -> Page[RequestRead]:
    """A channel's user's requests (`user_id`), or a department's queue as its staff see it."""
    if isinstance(caller, ChannelCaller):
        await require_channel(session, caller, city)
        if not user_id:
            raise Unprocessable("name the channel's user", field="user_id")
        resident_id = await _resident_id(session, caller, user_id)
        found = await queue.of_resident(
            session=session, city_id=city.id, resident_id=resident_id, limit=QUEUE_READ
        )
    else:
        handler = await service.handler_of(session=session, city=city, caller=caller)
        found = await queue.for_handler(
            session=session,
            city=city,
            handler=handler,
            status=status,
            department=department,
            limit=QUEUE_READ,
        )
    return page.slice(
        [await service.read_of(session=session, city=city, request=r) for r in found],
        key=lambda x: x.id,
    )


async def _own(
    session: AsyncSession, caller: ChannelCaller, city: City, public_id: str, user_id: str
) -> tuple[ServiceRequest, int]:
    found, _ = await _visible(session, caller, city, public_id)
    return found, await _resident_id(session, caller, user_id)


@router.post(
    "/cities/{city}/requests/{request_id}/reopen",
    operation_id="reopenServiceRequest",
    summary="Reopen a request",
    response_model=RequestRead,
)
async def reopen(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    request_id: RequestId,
    action_in: ResidentAction,
) -> RequestRead:
    """The reporter says it is not fixed (within the city's window after resolution)."""
    found, resident_id = await _own(session, caller, city, request_id, action_in.user_id)
    if not action_in.note:
        raise Unprocessable("say what is still wrong", field="note")
    await handling.reopen(
        session=session, city=city, actor=caller.actor, resident_id=resident_id,
        request=found, reason=action_in.note,
    )  # fmt: skip
    return await service.read_of(session=session, city=city, request=found, timeline=True)


@router.post(
    "/cities/{city}/requests/{request_id}/rating",
    operation_id="rateServiceRequest",
    summary="Rate a request's handling",
    response_model=RequestRead,
)
async def rate(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    request_id: RequestId,
    action_in: ResidentAction,
) -> RequestRead:
    """The reporter rates the handling, 1 to 5, once it is resolved."""
    found, resident_id = await _own(session, caller, city, request_id, action_in.user_id)
    if action_in.rating is None:
        raise Unprocessable("give a rating from 1 to 5", field="rating")
    await handling.rate(
        session=session, city=city, actor=caller.actor, resident_id=resident_id,
        request=found, rating=action_in.rating, comment=action_in.note,
    )  # fmt: skip
    return await service.read_of(session=session, city=city, request=found, timeline=True)


# The staff's routes (handling, the board, settings), under the same /v1 prefix.
router.include_router(staff_api.router)
