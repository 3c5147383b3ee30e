"""Routes of service requests for city staff: handling (department staff), the SLA board, and
settings, departments, request types and Open311 keys (city admins); `requests.api` includes
them in its router."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.deps import CityDep
from cityhub.identity.deps import CurrentStaff, StaffCaller, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.db import utcnow
from cityhub.platform.deps import SessionDep
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep
from cityhub.requests import catalogue, handling, keys, queue, service, sla
from cityhub.requests.models import ServiceRequest
from cityhub.requests.schemas import (
    ApiKeyCreate,
    ApiKeyRead,
    AssignCreate,
    DepartmentCreate,
    DepartmentRead,
    MemberCreate,
    MergeCreate,
    NoteCreate,
    ReasonCreate,
    RequestId,
    RequestRead,
    RequestSettingsRead,
    RequestSettingsUpdate,
    RequestTypeCreate,
    RequestTypeRead,
    RequestTypeUpdate,
    TransferCreate,
    TypeCode,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

router = APIRouter()  # included by requests.api under /v1
ADMINS = (Role.CITY_ADMIN,)


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
    operation_id, summary = STEP_OPERATIONS[step]
    router.post(
        f"/cities/{{city}}/requests/{{request_id}}/{step}",
        operation_id=operation_id,
        summary=summary,
        response_model=RequestRead,
    )(route)


# Each handling step's operationId and summary in the API's description.
STEP_OPERATIONS = {
    "triage": ("triageServiceRequest", "Accept a request"),
    "hold": ("holdServiceRequest", "Put a request on hold"),
    "resume": ("resumeServiceRequest", "Take a request off hold"),
    "resolve": ("resolveServiceRequest", "Resolve a request"),
    "close": ("closeServiceRequest", "Close a request"),
}


for _step in STEPS:
    _step_route(_step)


@router.post(
    "/cities/{city}/requests/{request_id}/assign",
    operation_id="assignServiceRequest",
    summary="Assign a request",
    response_model=RequestRead,
)
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


@router.post(
    "/cities/{city}/requests/{request_id}/notes",
    operation_id="addServiceRequestNote",
    summary="Add a note to a request",
    response_model=RequestRead,
)
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


@router.post(
    "/cities/{city}/requests/{request_id}/transfer",
    operation_id="transferServiceRequest",
    summary="Transfer a request",
    response_model=RequestRead,
)
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


@router.post(
    "/cities/{city}/requests/{request_id}/merge",
    operation_id="mergeServiceRequest",
    summary="Merge a duplicate request",
    response_model=RequestRead,
)
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


@router.get("/cities/{city}/request-board", operation_id="getRequestBoard", summary="The SLA board")
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


@router.get(
    "/cities/{city}/request-settings",
    operation_id="getRequestSettings",
    summary="Get request settings",
    response_model=RequestSettingsRead,
)
async def get_settings(
    session: SessionDep, staff: CurrentStaff, city: CityDep
) -> RequestSettingsRead:
    """The city's working calendar, area, districts and rules for requests."""
    rules = await catalogue.settings_of(session=session, city_id=city.id)
    return settings_read(rules)


@router.patch(
    "/cities/{city}/request-settings",
    operation_id="updateRequestSettings",
    summary="Change request settings",
    response_model=RequestSettingsRead,
)
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


@router.get(
    "/cities/{city}/request-departments",
    operation_id="listRequestDepartments",
    summary="List departments",
    response_model=Page[DepartmentRead],
)
async def list_departments(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[DepartmentRead]:
    """The departments that handle the city's requests."""
    found = await catalogue.get_all_departments(session=session, city_id=city.id)
    return page.slice([await department_read(session, d) for d in found], key=lambda x: x.code)


@router.post(
    "/cities/{city}/request-departments",
    operation_id="createRequestDepartment",
    summary="Add a department",
    status_code=201,
    response_model=DepartmentRead,
)
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


@router.post(
    "/cities/{city}/request-departments/{code}/members",
    operation_id="addRequestDepartmentMember",
    summary="Add a department member",
    response_model=DepartmentRead,
)
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


@router.post(
    "/cities/{city}/request-types",
    operation_id="createRequestType",
    summary="Add a request type",
    status_code=201,
    response_model=RequestTypeRead,
)
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
    return await idem.respond(201, await service.type_read_of(session=session, request_type=found))


@router.patch(
    "/cities/{city}/request-types/{code}",
    operation_id="updateRequestType",
    summary="Change a request type",
    response_model=RequestTypeRead,
)
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
    return await service.type_read_of(session=session, request_type=found)


@router.post(
    "/cities/{city}/request-keys",
    operation_id="issueOpen311Key",
    summary="Issue an Open311 api_key",
    status_code=201,
    response_model=ApiKeyRead,
)
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
