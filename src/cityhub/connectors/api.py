"""Routes of connectors: the published description schema, provider states, a city's stored
descriptions, and trying one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cityhub.connectors import definitions, service
from cityhub.connectors.deps import HubDep
from cityhub.connectors.models import ConnectorDefinition
from cityhub.identity.models import Role
from cityhub.platform.deps import CityDep, CurrentStaff, SessionDep, SettingsDep, require_staff_role

router = APIRouter(prefix="/v1", tags=["connectors"])
Name = Annotated[str, Path(max_length=60)]
ADMINS = (Role.CITY_ADMIN,)


class ConnectorRead(BaseModel):
    name: str
    kind: str
    base_url: str
    operations: list[str]
    definition: dict[str, Any] = Field(description="the description, inline secrets hidden")
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: ConnectorDefinition) -> ConnectorRead:
        return cls(
            name=row.name,
            kind=row.kind,
            base_url=row.definition["base_url"],
            operations=sorted(row.definition["operations"]),
            definition=service.redacted(row.definition),
            updated_at=row.updated_at,
        )


class ConnectorTry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str | None = Field(default=None, max_length=60)
    params: dict[str, Any] | None = None


@router.get("/connectors/schema", response_class=JSONResponse)
async def connector_schema() -> JSONResponse:
    """The JSON Schema that connector descriptions are validated against (public)."""
    return JSONResponse(definitions.schema(), media_type="application/schema+json")


@router.get("/connectors/status")
async def connector_status(staff: CurrentStaff, hub: HubDep) -> dict[str, Any]:
    """Each provider's circuit breaker and calls in flight, in this process (staff)."""
    return {"providers": hub.snapshot()}


@router.get("/cities/{city}/connectors", response_model=list[ConnectorRead])
async def list_connectors(
    session: SessionDep, staff: CurrentStaff, city: CityDep
) -> list[ConnectorRead]:
    """The city's stored connector descriptions (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    rows = await service.get_all_definitions(session=session, city_id=city.id)
    return [ConnectorRead.of(r) for r in rows]


@router.post("/cities/{city}/connectors", status_code=201, response_model=ConnectorRead)
async def save_connector(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    settings: SettingsDep,
    definition: Annotated[dict[str, Any], Body(description="see /v1/connectors/schema")],
    replace: Annotated[bool, Query(description="replace a description of that name")] = False,
) -> JSONResponse:
    """Connect a provider from a description (city admin): 201 created, 200 replaced."""
    require_staff_role(staff, city.id, *ADMINS)
    row, created = await service.save_definition(
        session=session,
        actor=staff.actor,
        city=city,
        definition=definition,
        allow=settings.connector_allowed_hosts,
        replace=replace,
    )
    body = ConnectorRead.of(row).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.get("/cities/{city}/connectors/{name}", response_model=ConnectorRead)
async def get_connector(
    session: SessionDep, staff: CurrentStaff, city: CityDep, name: Name
) -> ConnectorRead:
    """One stored description (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    row = await service.get_definition_or_raise(session=session, city_id=city.id, name=name)
    return ConnectorRead.of(row)


@router.post("/cities/{city}/connectors/{name}/test")
async def try_connector(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    hub: HubDep,
    name: Name,
    attempt: ConnectorTry,
) -> dict[str, Any]:
    """Call one read operation of a stored description and report (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    row = await service.get_definition_or_raise(session=session, city_id=city.id, name=name)
    # Release the transaction: no database lock is held while the provider thinks.
    await session.commit()
    return await service.try_operation(
        hub=hub,
        city_id=city.id,
        definition=row.definition,
        operation=attempt.operation,
        params=attempt.params,
    )
