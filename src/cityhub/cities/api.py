"""Routes of cities, the catalogue and grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cityhub.cities import catalogue, catalogue_hot, categories, service
from cityhub.cities.deps import CityDep
from cityhub.cities.models import CityStatus, ServiceKind
from cityhub.cities.schemas import (
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    CityCreate,
    CityRead,
    CityUpdate,
    GrantCreate,
    GrantRead,
    ServiceAdminRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)
from cityhub.identity import service as identity
from cityhub.identity.deps import CurrentCaller, CurrentStaff, StaffCaller, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import RowId, SessionDep
from cityhub.platform.errors import Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1", tags=["cities"])
ServiceCode = Annotated[str, Path(max_length=60)]
ADMINS = (Role.CITY_ADMIN,)


@router.get(
    "/cities", operation_id="listCities", summary="List cities", response_model=Page[CityRead]
)
async def list_cities(session: SessionDep, page: PageDep) -> Page[CityRead]:
    """The cities on the hub (public)."""
    found = await service.get_all_cities(session=session, after=page.after, limit=page.limit)
    return page.page([CityRead.of(c) for c in found], found[-1].id if found else None)


@router.post(
    "/cities",
    operation_id="createCity",
    summary="Add a city",
    status_code=201,
    response_model=CityRead,
)
async def create_city(
    session: SessionDep, staff: CurrentStaff, city_in: CityCreate, idem: IdempotencyDep
) -> JSONResponse:
    """Add a city (operator)."""
    require_staff_role(staff, None)
    city = await service.create_city(session=session, actor=staff.actor, city_in=city_in)
    return await idem.respond(201, CityRead.of(city))


@router.get("/cities/{city}", operation_id="getCity", summary="Get a city", response_model=CityRead)
async def get_city(session: SessionDep, city: Annotated[str, Path(max_length=40)]) -> CityRead:
    """One city (public)."""
    return CityRead.of(await service.get_city_or_raise(session=session, slug=city))


@router.patch(
    "/cities/{city}", operation_id="updateCity", summary="Change a city", response_model=CityRead
)
async def update_city(
    session: SessionDep, staff: CurrentStaff, city: CityDep, city_in: CityUpdate
) -> CityRead:
    """Change a city's names or time zone (city admin), or its status (operator)."""
    require_staff_role(staff, city.id, *ADMINS)
    updated = await service.update_city(
        session=session,
        actor=staff.actor,
        city=city,
        city_in=city_in,
        may_set_status=staff.is_operator,
    )
    return CityRead.of(updated)


@router.get(
    "/categories",
    operation_id="listCategories",
    summary="List service categories",
    response_model=Page[CategoryRead],
)
async def list_categories(
    session: SessionDep,
    page: PageDep,
    include_disabled: Annotated[bool, Query(description="also the disabled ones")] = False,
) -> Page[CategoryRead]:
    """The catalogue's categories (public), in display order."""
    found = await categories.get_all(session=session, include_disabled=include_disabled)
    return page.slice([CategoryRead.of(c) for c in found], key=lambda x: x.code)


@router.post(
    "/categories",
    operation_id="createCategory",
    summary="Add a category",
    status_code=201,
    response_model=CategoryRead,
)
async def create_category(
    session: SessionDep, staff: CurrentStaff, category_in: CategoryCreate, idem: IdempotencyDep
) -> JSONResponse:
    """Add a category to the catalogue every city shares (operator)."""
    require_staff_role(staff, None)
    created = await categories.create(session=session, actor=staff.actor, category_in=category_in)
    return await idem.respond(201, CategoryRead.of(created))


@router.patch(
    "/categories/{code}",
    operation_id="updateCategory",
    summary="Change a category",
    response_model=CategoryRead,
)
async def update_category(
    session: SessionDep,
    staff: CurrentStaff,
    code: Annotated[str, Path(max_length=40)],
    category_in: CategoryUpdate,
) -> CategoryRead:
    """Rename, reorder, disable (`active: false`) or enable a category (operator)."""
    require_staff_role(staff, None)
    found = await categories.get_or_raise(session=session, code=code)
    updated = await categories.update(
        session=session, actor=staff.actor, category=found, category_in=category_in
    )
    return CategoryRead.of(updated)


@router.get(
    "/cities/{city}/services",
    operation_id="listServices",
    summary="List a city's services",
    response_model=Page[ServiceRead],
)
async def list_services(
    request: Request,
    session: SessionDep,
    caller: CurrentCaller,
    city: CityDep,
    page: PageDep,
    category: Annotated[str | None, Query(max_length=40)] = None,
    kind: ServiceKind | None = None,
) -> Response:
    """A city's services: for a channel, those granted to it; for staff, all of them. The
    answer carries an `ETag`; a request whose `If-None-Match` names it is answered `304`."""
    channel_id = None if isinstance(caller, StaffCaller) else caller.channel.id
    found = await catalogue.page(
        session=session, city=city, channel_id=channel_id, category=category, kind=kind,
        page=page,
    )  # fmt: skip
    if channel_id is not None:  # the same request is answered before routing next time
        catalogue_hot.remember(request, session, page=found, channel_id=channel_id)
    return found.answer(request.headers.get("if-none-match"))


@router.get(
    "/cities/{city}/services/{code}",
    operation_id="getService",
    summary="Get a service",
    response_model=ServiceRead | ServiceAdminRead,
)
async def get_service(
    session: SessionDep, caller: CurrentCaller, city: CityDep, code: ServiceCode
) -> ServiceRead:
    """One service; a channel sees it only if granted, staff also see how it is connected."""
    found = await service.get_service_or_raise(session=session, city_id=city.id, code=code)
    if isinstance(caller, StaffCaller):
        return ServiceAdminRead.of(found, city)
    await service.require_service_granted(
        session=session, channel_id=caller.channel.id, service=found
    )
    return ServiceRead.of(found, city)


@router.post(
    "/cities/{city}/services",
    operation_id="createService",
    summary="Add a service",
    status_code=201,
    response_model=ServiceAdminRead,
)
async def create_service(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    service_in: ServiceCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Add a service to the city's catalogue (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    created = await service.create_service(
        session=session, actor=staff.actor, city=city, service_in=service_in
    )
    return await idem.respond(201, ServiceAdminRead.of(created, city))


@router.patch(
    "/cities/{city}/services/{code}",
    operation_id="updateService",
    summary="Change a service",
    response_model=ServiceAdminRead,
)
async def update_service(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    code: ServiceCode,
    service_in: ServiceUpdate,
) -> ServiceAdminRead:
    """Change a service (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    found = await service.get_service_or_raise(session=session, city_id=city.id, code=code)
    updated = await service.update_service(
        session=session, actor=staff.actor, service=found, service_in=service_in
    )
    return ServiceAdminRead.of(updated, city)


@router.get(
    "/cities/{city}/grants",
    operation_id="listGrants",
    summary="List grants",
    response_model=Page[GrantRead],
)
async def list_grants(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[GrantRead]:
    """Which channel may offer which service in the city (staff)."""
    rows = await service.get_all_grants(
        session=session, city_id=city.id, after=page.after, limit=page.limit
    )
    items = [GrantRead.of(g, city, c, s) for g, c, s in rows]
    return page.page(items, rows[-1][0].id if rows else None)


@router.post(
    "/cities/{city}/grants",
    operation_id="createGrant",
    summary="Grant a service to a channel",
    status_code=201,
    response_model=GrantRead,
)
async def create_grant(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    grant_in: GrantCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Let a channel offer a service (city admin). Grants are never exclusive."""
    require_staff_role(staff, city.id, *ADMINS)
    if city.status == CityStatus.SUSPENDED:
        raise Unprocessable("the city is suspended", code="city_suspended", field="city")
    channel = await identity.get_channel_by_slug_or_raise(session=session, slug=grant_in.channel)
    found = await service.get_service_or_raise(
        session=session, city_id=city.id, code=grant_in.service
    )
    grant = await service.create_grant(
        session=session,
        actor=staff.actor,
        city=city,
        channel=channel,
        service=found,
        staff_id=staff.staff.id,
    )
    return await idem.respond(201, GrantRead.of(grant, city, channel, found))


@router.delete(
    "/cities/{city}/grants/{grant_id}",
    operation_id="deleteGrant",
    summary="Withdraw a grant",
    status_code=204,
)
async def delete_grant(
    session: SessionDep, staff: CurrentStaff, city: CityDep, grant_id: RowId
) -> Response:
    """Withdraw a grant (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    await service.delete_grant(session=session, actor=staff.actor, city=city, grant_id=grant_id)
    return Response(status_code=204)
