"""A city's request settings, departments and request types (the service definitions), and
the checking of a report's attributes against its type."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.platform.errors import Conflict, NotFound, Unprocessable
from cityhub.requests.calendar import Calendar
from cityhub.requests.models import (
    Department,
    DepartmentMember,
    RequestSettings,
    RequestType,
    ServiceRequest,
)
from cityhub.requests.schemas import (
    Area,
    DepartmentCreate,
    RequestSettingsUpdate,
    RequestTypeCreate,
    RequestTypeUpdate,
)

if TYPE_CHECKING:
    from cityhub.cities.models import City

DEFAULT_PERIODS = [["09:00", "12:00"], ["13:30", "17:30"]]
TEXT_LIMITS = {"string": 500, "text": 5000}


async def settings_of(*, session: AsyncSession, city_id: int) -> RequestSettings:
    """The city's request settings (the defaults, made on first use: Monday to Friday, no
    area until one is set)."""
    found = await session.scalar(select(RequestSettings).where(RequestSettings.city_id == city_id))
    if found is None:
        found = RequestSettings(
            city_id=city_id,
            workdays=[1, 2, 3, 4, 5],
            periods=DEFAULT_PERIODS,
            holidays=[],
            extra_workdays=[],
            area={},
            districts=[],
            triage_hours=4,
            reopen_days=7,
            publish_open=False,
        )
        session.add(found)
        await session.flush()
    return found


def calendar_of(city: City, rules: RequestSettings) -> Calendar:
    """The city's working calendar."""
    return Calendar.of(
        timezone=city.timezone,
        workdays=rules.workdays,
        periods=rules.periods,
        holidays=rules.holidays,
        extra_workdays=rules.extra_workdays,
    )


async def update_settings(
    *, session: AsyncSession, actor: audit.Actor, city: City, settings_in: RequestSettingsUpdate
) -> RequestSettings:
    """Change the city's calendar, area or rules (the calendar is checked whole)."""
    rules = await settings_of(session=session, city_id=city.id)
    changes = settings_in.model_dump(exclude_unset=True, by_alias=True)
    for key, value in changes.items():
        setattr(rules, key, value)
    if settings_in.area is not None and not (
        settings_in.area.south < settings_in.area.north
        and settings_in.area.west < settings_in.area.east
    ):
        raise Unprocessable("the area's south/west must be below its north/east", field="area")
    calendar_of(city, rules)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="requests.settings",
        object_type="city",
        object_id=city.slug,
        city_id=city.id,
        details={"changed": sorted(changes)},
    )
    return rules


def check_location(rules: RequestSettings, lat: float, lon: float) -> str | None:
    """The district of a point inside the city (None if no district holds it); 422 on `lat`
    for a point outside the city's area."""
    if rules.area and not Area.model_validate(rules.area).contains(lat, lon):
        raise Unprocessable(
            "the location is outside the city", code="location_outside_city", field="lat"
        )
    for district in rules.districts:
        if Area.model_validate(district["area"]).contains(lat, lon):
            return str(district["code"])
    return None


# -- departments ----------------------------------------------------------------------------


async def get_department_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Department:
    """The city's department of that code, or 404."""
    found = await session.scalar(
        select(Department).where(Department.city_id == city_id, Department.code == code)
    )
    if found is None:
        raise NotFound(f"no department {code!r}", code="department_not_found", field="department")
    return found


async def get_all_departments(*, session: AsyncSession, city_id: int) -> list[Department]:
    """The city's departments."""
    found = await session.scalars(
        select(Department).where(Department.city_id == city_id).order_by(Department.code)
    )
    return list(found)


async def _staff_id(session: AsyncSession, username: str, field: str) -> int:
    staff = await identity.get_staff_by_username(session=session, username=username)
    if staff is None:
        raise Unprocessable(f"no staff member {username!r}", code="staff_not_found", field=field)
    return staff.id


async def create_department(
    *, session: AsyncSession, actor: audit.Actor, city: City, department_in: DepartmentCreate
) -> Department:
    """A new department (409 if the code is taken)."""
    exists = await session.scalar(
        select(Department.id).where(
            Department.city_id == city.id, Department.code == department_in.code
        )
    )
    if exists is not None:
        raise Conflict(f"department {department_in.code!r} exists", field="code")
    head = department_in.head
    department = Department(
        city_id=city.id,
        code=department_in.code,
        names=department_in.names.model_dump(by_alias=True),
        head_staff_id=await _staff_id(session, head, "head") if head else None,
    )
    session.add(department)
    await session.flush()
    if department.head_staff_id is not None:
        await _add_member(session, department, department.head_staff_id)
    await audit.append(
        session=session,
        actor=actor,
        action="requests.department.create",
        object_type="department",
        object_id=department.code,
        city_id=city.id,
        details={"head": head},
    )
    return department


async def _add_member(session: AsyncSession, department: Department, staff_id: int) -> None:
    exists = await session.scalar(
        select(DepartmentMember.id).where(
            DepartmentMember.city_id == department.city_id,
            DepartmentMember.department_id == department.id,
            DepartmentMember.staff_id == staff_id,
        )
    )
    if exists is None:
        session.add(
            DepartmentMember(
                city_id=department.city_id, department_id=department.id, staff_id=staff_id
            )
        )
        await session.flush()


async def add_member(
    *, session: AsyncSession, actor: audit.Actor, city: City, code: str, username: str
) -> Department:
    """Let a staff member handle the department's requests."""
    department = await get_department_or_raise(session=session, city_id=city.id, code=code)
    await _add_member(session, department, await _staff_id(session, username, "username"))
    await audit.append(
        session=session,
        actor=actor,
        action="requests.department.member",
        object_type="department",
        object_id=code,
        city_id=city.id,
        details={"username": username},
    )
    return department


async def members_of(*, session: AsyncSession, department: Department) -> list[int]:
    """The staff ids who handle the department's requests."""
    found = await session.scalars(
        select(DepartmentMember.staff_id).where(
            DepartmentMember.city_id == department.city_id,
            DepartmentMember.department_id == department.id,
        )
    )
    return list(found)


async def departments_of_staff(*, session: AsyncSession, city_id: int, staff_id: int) -> set[int]:
    """The departments whose requests a staff member handles."""
    found = await session.scalars(
        select(DepartmentMember.department_id).where(
            DepartmentMember.city_id == city_id, DepartmentMember.staff_id == staff_id
        )
    )
    return set(found)


# -- request types ----------------------------------------------------------------------------


async def get_type_or_raise(
    *, session: AsyncSession, city_id: int, code: str, field: str = "type"
) -> RequestType:
    """The city's request type of that code, or 404 naming the field."""
    found = await session.scalar(
        select(RequestType).where(RequestType.city_id == city_id, RequestType.code == code)
    )
    if found is None:
        raise NotFound(f"no request type {code!r}", code="request_type_not_found", field=field)
    return found


async def get_all_types(
    *, session: AsyncSession, city_id: int, active_only: bool = True
) -> list[RequestType]:
    """The city's request types in display order."""
    query = select(RequestType).where(RequestType.city_id == city_id)
    if active_only:
        query = query.where(RequestType.active.is_(True))
    found = await session.scalars(query.order_by(RequestType.position, RequestType.code))
    return list(found)


def _attributes(attributes: list[Any]) -> list[dict[str, Any]]:
    ordered = sorted(attributes, key=lambda a: (a.order, a.code))
    return [a.model_dump(by_alias=True) for a in ordered]


async def create_type(
    *, session: AsyncSession, actor: audit.Actor, city: City, type_in: RequestTypeCreate
) -> RequestType:
    """A new request type (409 if the code is taken)."""
    exists = await session.scalar(
        select(RequestType.id).where(
            RequestType.city_id == city.id, RequestType.code == type_in.code
        )
    )
    if exists is not None:
        raise Conflict(f"request type {type_in.code!r} exists", field="code")
    department = await get_department_or_raise(
        session=session, city_id=city.id, code=type_in.department
    )
    found = RequestType(
        city_id=city.id,
        code=type_in.code,
        group=type_in.group,
        keywords=",".join(k.strip() for k in type_in.keywords if k.strip()),
        names=type_in.names.model_dump(by_alias=True),
        descriptions=type_in.descriptions.model_dump(by_alias=True),
        department_id=department.id,
        sla_hours=type_in.sla_hours,
        attributes=_attributes(type_in.attributes),
        active=True,
        position=type_in.position,
    )
    session.add(found)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="requests.type.create",
        object_type="request_type",
        object_id=found.code,
        city_id=city.id,
        details={"department": department.code, "sla_hours": found.sla_hours},
    )
    return found


async def update_type(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    city: City,
    code: str,
    type_in: RequestTypeUpdate,
) -> RequestType:
    """Change a request type; requests already made keep their deadlines."""
    found = await get_type_or_raise(session=session, city_id=city.id, code=code)
    changes = type_in.model_dump(exclude_unset=True, by_alias=True)
    if type_in.department is not None:
        department = await get_department_or_raise(
            session=session, city_id=city.id, code=type_in.department
        )
        found.department_id = department.id
    for key in ("group", "sla_hours", "active", "position", "names", "descriptions"):
        if key in changes and changes[key] is not None:
            setattr(found, key, changes[key])
    if type_in.keywords is not None:
        found.keywords = ",".join(k.strip() for k in type_in.keywords if k.strip())
    if type_in.attributes is not None:
        found.attributes = _attributes(type_in.attributes)
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="requests.type.update",
        object_type="request_type",
        object_id=code,
        city_id=city.id,
        details={"changed": sorted(changes)},
    )
    return found


def check_attributes(request_type: RequestType, given: dict[str, Any]) -> dict[str, Any]:
    """The report's attributes checked against its type's Open311 definitions: 422 naming
    `attributes.<code>` for an unknown attribute, a missing required one or a bad value."""
    defined = {a["code"]: a for a in request_type.attributes}
    for code in given:
        if code not in defined:
            raise Unprocessable(
                f"{request_type.code} asks no attribute {code!r}",
                code="unknown_attribute",
                field=f"attributes.{code}",
            )
    checked: dict[str, Any] = {}
    for code, attribute in defined.items():
        value = given.get(code)
        if value is None or value == "" or value == []:
            if attribute.get("required"):
                raise Unprocessable(
                    f"attribute {code!r} is required",
                    code="attribute_required",
                    field=f"attributes.{code}",
                )
            continue
        checked[code] = _check_value(attribute, value, f"attributes.{code}")
    return checked


def _bad(field: str, message: str) -> Unprocessable:
    return Unprocessable(message, code="invalid_attribute", field=field)


def _check_value(attribute: dict[str, Any], value: Any, field: str) -> Any:
    datatype = attribute["datatype"]
    keys = [v["key"] for v in attribute.get("values", [])]
    if datatype in TEXT_LIMITS:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _bad(field, "must be text")
        text = str(value).strip()
        if len(text) > TEXT_LIMITS[datatype]:
            raise _bad(field, f"must be at most {TEXT_LIMITS[datatype]} characters")
        return text
    if datatype == "number":
        try:
            number = float(value) if not isinstance(value, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise _bad(field, "must be a number")
        return int(number) if number.is_integer() else number
    if datatype == "datetime":
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            raise _bad(field, "must be an ISO 8601 date and time") from None
        return moment.isoformat()
    if datatype == "singlevaluelist":
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if str(value) not in keys:
            raise _bad(field, f"{value!r} is not one of {', '.join(keys)}")
        return str(value)
    items = value if isinstance(value, list) else [value]
    for item in items:
        if str(item) not in keys:
            raise _bad(field, f"{item!r} is not one of {', '.join(keys)}")
    return sorted({str(i) for i in items}, key=keys.index)


async def get_department_by_id(*, session: AsyncSession, request: ServiceRequest) -> Department:
    """The department a request is with."""
    found = await session.get(Department, request.department_id)
    assert found is not None and found.city_id == request.city_id
    return found


async def get_type_of(*, session: AsyncSession, request: ServiceRequest) -> RequestType:
    """The type of a request."""
    found = await session.get(RequestType, request.type_id)
    assert found is not None and found.city_id == request.city_id
    return found
