"""Routes of service requests: the request types (public), reports and the resident's steps
(channels), handling (department staff), settings and departments (city admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity.enums import Role
from cityhub.identity.residents import get_for_channel_or_raise
from cityhub.platform.db import utcnow
from cityhub.platform.deps import (
    ChannelCaller,
    CityDep,
    CurrentCaller,
    CurrentChannel,
    CurrentStaff,
    SessionDep,
    SettingsDep,
    StaffCaller,
    VaultDep,
    require_staff_role,
)
from cityhub.platform.errors import BadRequest, NotFound, Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.requests import catalogue, handling, keys, queue, reports, service, sla
from cityhub.requests.models import RequestType, ServiceRequest
from cityhub.requests.photos import MAX_PHOTOS
from cityhub.requests.reports import Reporter
from cityhub.requests.schemas import (
    ApiKeyCreate,
    ApiKeyRead,
    AssignCreate,
    DepartmentCreate,
    DepartmentRead,
    MemberCreate,
    MergeCreate,
    NearbyRead,
    NoteCreate,
    ReasonCreate,
    ReportCreate,
    RequestRead,
    RequestSettingsRead,
    RequestSettingsUpdate,
    RequestTypeCreate,
    RequestTypeRead,
    RequestTypeUpdate,
    ResidentAction,
    TransferCreate,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter(prefix="/v1", tags=["requests"])
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug")]
TypeCode = Annotated[str, Path(max_length=60, description="the request type's code")]
RequestId = Annotated[str, Path(max_length=24, description="the request's number")]
SCOPE = "requests:write"
ADMINS = (Role.CITY_ADMIN,)


def type_read(request_type: RequestType, department_code: str) -> RequestTypeRead:
    """A request type as the API answers it."""
    return RequestTypeRead(
        code=request_type.code,
        group=request_type.group,
        keywords=[k for k in request_type.keywords.split(",") if k],
        names=request_type.names,
        descriptions=request_type.descriptions,
        department=department_code,
        sla_hours=request_type.sla_hours,
        attributes=request_type.attributes,
        active=request_type.active,
    )


async def _type_read(session: AsyncSession, request_type: RequestType) -> RequestTypeRead:
    departments = await catalogue.get_all_departments(session=session, city_id=request_type.city_id)
    codes = {d.id: d.code for d in departments}
    return type_read(request_type, codes[request_type.department_id])


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


@router.get("/cities/{city}/request-types", response_model=list[RequestTypeRead])
async def list_types(session: SessionDep, city: CitySlug) -> list[RequestTypeRead]:
    """What can be reported in the city (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    found = await catalogue.get_all_types(session=session, city_id=found_city.id)
    return [await _type_read(session, t) for t in found]


@router.get("/cities/{city}/request-types/{code}", response_model=RequestTypeRead)
async def get_type(session: SessionDep, city: CitySlug, code: TypeCode) -> RequestTypeRead:
    """One request type and the attributes it asks (public)."""
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    found = await catalogue.get_type_or_raise(session=session, city_id=found_city.id, code=code)
    return await _type_read(session, found)


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
    status_code=201,
    response_model=RequestRead,
    openapi_extra=REPORT_BODY,
    responses={200: {"description": "the report joined the same open request (`same_as`)"}},
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


@router.get("/cities/{city}/requests/nearby", response_model=list[NearbyRead])
async def nearby(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    type: Annotated[str, Query(max_length=60, description="the request type's code")],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
) -> list[NearbyRead]:
    """ "The same problem?": open requests of the type near the point, to follow instead."""
    if isinstance(caller, ChannelCaller):
        await require_channel(session, caller, city)
    return await reports.same_problem(session=session, city=city, type_code=type, lat=lat, lon=lon)


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


@router.get("/cities/{city}/requests/{request_id}", response_model=RequestRead)
async def get_request(
    session: SessionDep, caller: CurrentCaller, city: CityDep, request_id: RequestId
) -> RequestRead:
    """A request and its timeline: the reporting channel sees the public steps, the
    department's staff every step."""
    found, internal = await _visible(session, caller, city, request_id)
    return await service.read_of(
        session=session, city=city, request=found, timeline=True, internal=internal
    )


@router.get("/cities/{city}/requests/{request_id}/photos/{photo_id}")
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


@router.get("/cities/{city}/requests", response_model=list[RequestRead])
async def list_requests(
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    department: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> list[RequestRead]:
    """A channel's user's requests (`user_id`), or a department's queue as its staff see it."""
    if isinstance(caller, ChannelCaller):
        await require_channel(session, caller, city)
        if not user_id:
            raise Unprocessable("name the channel's user", field="user_id")
        resident_id = await _resident_id(session, caller, user_id)
        found = await queue.of_resident(
            session=session, city_id=city.id, resident_id=resident_id, limit=limit
        )
    else:
        handler = await service.handler_of(session=session, city=city, caller=caller)
        found = await queue.for_handler(
            session=session,
            city=city,
            handler=handler,
            status=status,
            department=department,
            limit=limit,
        )
    return [await service.read_of(session=session, city=city, request=r) for r in found]


async def _own(
    session: AsyncSession, caller: ChannelCaller, city: City, public_id: str, user_id: str
) -> tuple[ServiceRequest, int]:
    found, _ = await _visible(session, caller, city, public_id)
    return found, await _resident_id(session, caller, user_id)


@router.post("/cities/{city}/requests/{request_id}/reopen", response_model=RequestRead)
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


@router.post("/cities/{city}/requests/{request_id}/rating", response_model=RequestRead)
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


# -- handling (department staff) --------------------------------------------------------------


# The steps that take only a note; each is its own route.
STEPS = ("triage", "hold", "resume", "resolve", "close")


async def _handled(
    session: AsyncSession, staff: StaffCaller, city: City, public_id: str
) -> tuple[service.Handler, ServiceRequest]:
    handler = await service.handler_of(session=session, city=city, caller=staff)
    found = await service.get_for_handler_or_raise(
        session=session, city=city, handler=handler, public_id=public_id
    )
    return handler, found


async def _answer(session: AsyncSession, city: City, found: ServiceRequest) -> RequestRead:
    return await service.read_of(
        session=session, city=city, request=found, timeline=True, internal=True
    )


def _step_route(step: str) -> None:
    fn = getattr(handling, step)
    keyword = {"triage": "note", "hold": "reason"}.get(step, "text")

    async def route(
        session: SessionDep,
        staff: CurrentStaff,
        city: CityDep,
        request_id: RequestId,
        step_in: ReasonCreate,
    ) -> RequestRead:
        handler, found = await _handled(session, staff, city, request_id)
        await fn(
            session=session, city=city, handler=handler, request=found, **{keyword: step_in.note}
        )
        return await _answer(session, city, found)

    route.__name__ = f"{step}_request"
    route.__doc__ = (fn.__doc__ or "").split("\n")[0]
    router.post(f"/cities/{{city}}/requests/{{request_id}}/{step}", response_model=RequestRead)(
        route
    )


for _step in STEPS:
    _step_route(_step)


@router.post("/cities/{city}/requests/{request_id}/assign", response_model=RequestRead)
async def assign(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    request_id: RequestId,
    assign_in: AssignCreate,
) -> RequestRead:
    """Give the request to a member of its department."""
    handler, found = await _handled(session, staff, city, request_id)
    await handling.assign(
        session=session, city=city, handler=handler, request=found, username=assign_in.assignee
    )
    return await _answer(session, city, found)


@router.post("/cities/{city}/requests/{request_id}/notes", response_model=RequestRead)
async def add_note(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    request_id: RequestId,
    note_in: NoteCreate,
) -> RequestRead:
    """A status note: public (told to the resident) or internal."""
    handler, found = await _handled(session, staff, city, request_id)
    await handling.note(
        session=session, city=city, handler=handler, request=found,
        text=note_in.note, public=note_in.public,
    )  # fmt: skip
    return await _answer(session, city, found)


@router.post("/cities/{city}/requests/{request_id}/transfer", response_model=RequestRead)
async def transfer(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    request_id: RequestId,
    transfer_in: TransferCreate,
) -> RequestRead:
    """Hand the request to another department."""
    handler, found = await _handled(session, staff, city, request_id)
    await handling.transfer(
        session=session, city=city, handler=handler, request=found,
        department_code=transfer_in.department, text=transfer_in.note,
    )  # fmt: skip
    return await _answer(session, city, found)


@router.post("/cities/{city}/requests/{request_id}/merge", response_model=RequestRead)
async def merge(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    request_id: RequestId,
    merge_in: MergeCreate,
) -> RequestRead:
    """Merge a duplicate into the open request it repeats."""
    handler, found = await _handled(session, staff, city, request_id)
    into = await service.get_for_handler_or_raise(
        session=session, city=city, handler=handler, public_id=merge_in.into
    )
    await handling.merge(session=session, city=city, handler=handler, request=found, into=into)
    return await _answer(session, city, found)


@router.get("/cities/{city}/request-board")
async def sla_board(session: SessionDep, staff: CurrentStaff, city: CityDep) -> dict[str, Any]:
    """The SLA board: per department, open, nearing, overdue and escalated requests, and the
    share resolved within the deadline."""
    handler = await service.handler_of(session=session, city=city, caller=staff)
    rows = await sla.board(
        session=session, city=city, now=utcnow(), departments=handler.departments
    )
    return {"departments": [{**r.__dict__, "share_in_time": r.share_in_time} for r in rows]}


# -- settings, departments and types (city admins) -------------------------------------------


def settings_read(rules: Any) -> RequestSettingsRead:
    """A city's request settings as the API answers them."""
    return RequestSettingsRead.model_validate(rules, from_attributes=True)


@router.get("/cities/{city}/request-settings", response_model=RequestSettingsRead)
async def get_settings(
    session: SessionDep, staff: CurrentStaff, city: CityDep
) -> RequestSettingsRead:
    """The city's working calendar, area, districts and rules for requests."""
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    return settings_read(rules)


@router.patch("/cities/{city}/request-settings", response_model=RequestSettingsRead)
async def update_settings(
    session: SessionDep, staff: CurrentStaff, city: CityDep, settings_in: RequestSettingsUpdate
) -> RequestSettingsRead:
    """Change the calendar (holidays, make-up days), the area, the rules (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    rules = await catalogue.update_settings(
        session=session, actor=staff.actor, city=city, settings_in=settings_in
    )
    return settings_read(rules)


async def department_read(session: AsyncSession, department: Any) -> DepartmentRead:
    """A department with its head and members' usernames."""
    head, members = await queue.department_people(session=session, department=department)
    return DepartmentRead(code=department.code, names=department.names, head=head, members=members)


@router.get("/cities/{city}/request-departments", response_model=list[DepartmentRead])
async def list_departments(
    session: SessionDep, staff: CurrentStaff, city: CityDep
) -> list[DepartmentRead]:
    """The departments that handle the city's requests."""
    found = await catalogue.get_all_departments(session=session, city_id=city.id)
    return [await department_read(session, d) for d in found]


@router.post("/cities/{city}/request-departments", status_code=201, response_model=DepartmentRead)
async def create_department(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    department_in: DepartmentCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """A department that handles requests (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    department = await catalogue.create_department(
        session=session, actor=staff.actor, city=city, department_in=department_in
    )
    return await idem.respond(201, await department_read(session, department))


@router.post("/cities/{city}/request-departments/{code}/members", response_model=DepartmentRead)
async def add_member(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    code: Annotated[str, Path(max_length=60)],
    member_in: MemberCreate,
) -> DepartmentRead:
    """Let a staff member handle the department's requests (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    department = await catalogue.add_member(
        session=session, actor=staff.actor, city=city, code=code, username=member_in.username
    )
    return await department_read(session, department)


@router.post("/cities/{city}/request-types", status_code=201, response_model=RequestTypeRead)
async def create_type(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    type_in: RequestTypeCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """A request type: its department, deadline in working hours, attributes (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    found = await catalogue.create_type(
        session=session, actor=staff.actor, city=city, type_in=type_in
    )
    return await idem.respond(201, await _type_read(session, found))


@router.patch("/cities/{city}/request-types/{code}", response_model=RequestTypeRead)
async def update_type(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    code: TypeCode,
    type_in: RequestTypeUpdate,
) -> RequestTypeRead:
    """Change a request type (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    found = await catalogue.update_type(
        session=session, actor=staff.actor, city=city, code=code, type_in=type_in
    )
    return await _type_read(session, found)


@router.post("/cities/{city}/request-keys", status_code=201, response_model=ApiKeyRead)
async def issue_key(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    key_in: ApiKeyCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """An Open311 `api_key` for a channel the city granted its request service (city
    admin); shown once, only its hash is kept."""
    require_staff_role(staff, city.id, *ADMINS)
    row, api_key, channel = await keys.issue(
        session=session, actor=staff.actor, city=city, channel_slug=key_in.channel
    )
    return await idem.respond(
        201, ApiKeyRead(channel=channel.slug, api_key=api_key, prefix=row.prefix)
    )
