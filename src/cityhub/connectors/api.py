"""Routes of connectors: the published description schema, provider states, a city's stored
descriptions, trying one, and the city's connector secrets (write-only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cityhub.cities.deps import CityDep
from cityhub.connectors import definitions, secrets, service
from cityhub.connectors.deps import HubDep
from cityhub.connectors.models import ConnectorDefinition, ConnectorSecret
from cityhub.identity.deps import CurrentStaff, VaultDep, require_staff_role
from cityhub.identity.enums import Role
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.uow import between_transactions

router = APIRouter(prefix="/v1", tags=["connectors"])
Name = Annotated[str, Path(max_length=60)]
SecretName = Annotated[str, Path(max_length=200, description="e.g. pudong-water.auth.key")]
ADMINS = (Role.CITY_ADMIN,)


class ConnectorRead(BaseModel):
    name: str
    kind: str
    base_url: str
    operations: list[str]
    definition: dict[str, Any] = Field(
        description='the description: secrets appear as {"secret": name} or '
        '{"env": NAME}, header values as ***'
    )
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


class ConnectorSecretWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(
        min_length=1,
        max_length=secrets.MAX_VALUE_LENGTH,
        description="the secret; stored encrypted and never shown again",
    )


class ConnectorSecretRead(BaseModel):
    """A secret as anyone may see it: its name and times, never its value."""

    name: str
    version: int = Field(description="1 when created, one more at each rotation")
    created_at: dt.datetime
    rotated_at: dt.datetime | None

    @classmethod
    def of(cls, row: ConnectorSecret) -> ConnectorSecretRead:
        return cls(
            name=row.name, version=row.version, created_at=row.created_at, rotated_at=row.rotated_at
        )


class ConnectorTry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: str | None = Field(default=None, max_length=60)
    params: dict[str, Any] | None = None


@router.get(
    "/connectors/schema",
    operation_id="getConnectorSchema",
    summary="JSON Schema of connector descriptions",
    response_class=JSONResponse,
    openapi_extra=route_meta(media_type="application/schema+json"),
)
async def connector_schema() -> JSONResponse:
    """The JSON Schema that connector descriptions are validated against (public)."""
    return JSONResponse(definitions.schema(), media_type="application/schema+json")


@router.get(
    "/connectors/status",
    operation_id="getConnectorStatus",
    summary="Circuit breakers and calls in flight",
)
async def connector_status(staff: CurrentStaff, hub: HubDep) -> dict[str, Any]:
    """Each provider's circuit breaker and calls in flight, in this process (staff)."""
    return {"providers": hub.snapshot()}


@router.get(
    "/cities/{city}/connectors",
    operation_id="listConnectors",
    summary="List connector descriptions",
    response_model=Page[ConnectorRead],
)
async def list_connectors(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[ConnectorRead]:
    """The city's stored connector descriptions (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    rows = await service.get_all_definitions(session=session, city_id=city.id)
    return page.slice([ConnectorRead.of(r) for r in rows], key=lambda x: x.name)


@router.post(
    "/cities/{city}/connectors",
    operation_id="saveConnector",
    summary="Create or replace a connector",
    status_code=201,
    response_model=ConnectorRead,
    openapi_extra=route_meta(also_succeeds={200: "replaced (`replace=true`)"}),
)
async def save_connector(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    settings: SettingsDep,
    vault: VaultDep,
    hub: HubDep,
    definition: Annotated[dict[str, Any], Body(description="see /v1/connectors/schema")],
    replace: Annotated[bool, Query(description="replace a description of that name")] = False,
) -> JSONResponse:
    """Connect a provider from a description (city admin): 201 created, 200 replaced. Inline
    secrets are moved into the city's secret store."""
    require_staff_role(staff, city.id, *ADMINS)
    row, created = await service.save_definition(
        session=session,
        vault=vault,
        actor=staff.actor,
        city=city,
        definition=definition,
        policy=hub.outbound,
        env_prefix=settings.connector_env_prefix,
        replace=replace,
    )
    body = ConnectorRead.of(row).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.get(
    "/cities/{city}/connectors/{name}",
    operation_id="getConnector",
    summary="Get a connector description",
    response_model=ConnectorRead,
)
async def get_connector(
    session: SessionDep, staff: CurrentStaff, city: CityDep, name: Name
) -> ConnectorRead:
    """One stored description (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    row = await service.get_definition_or_raise(session=session, city_id=city.id, name=name)
    return ConnectorRead.of(row)


@router.post(
    "/cities/{city}/connectors/{name}/test",
    operation_id="testConnector",
    summary="Try a connector's read operation",
)
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
    trial = await service.prepare_trial(
        session=session,
        hub=hub,
        city_id=city.id,
        definition=row.definition,
        operation=attempt.operation,
        params=attempt.params,
    )
    async with between_transactions(session):
        return await service.try_operation(trial)


@router.get(
    "/cities/{city}/connector-secrets",
    operation_id="listConnectorSecrets",
    summary="List connector secrets",
    response_model=Page[ConnectorSecretRead],
)
async def list_secrets(
    session: SessionDep, staff: CurrentStaff, city: CityDep, page: PageDep
) -> Page[ConnectorSecretRead]:
    """The city's connector secrets: names and times only (city admin)."""
    require_staff_role(staff, city.id, *ADMINS)
    rows = await secrets.get_all(session=session, city_id=city.id)
    return page.slice([ConnectorSecretRead.of(r) for r in rows], key=lambda x: x.name)


@router.put(
    "/cities/{city}/connector-secrets/{name}",
    operation_id="putConnectorSecret",
    summary="Set or rotate a connector secret",
    status_code=201,
    response_model=ConnectorSecretRead,
    responses={200: {"model": ConnectorSecretRead, "description": "rotated"}},
)
async def put_secret(
    session: SessionDep,
    staff: CurrentStaff,
    city: CityDep,
    vault: VaultDep,
    name: SecretName,
    secret_in: ConnectorSecretWrite,
) -> JSONResponse:
    """Set a connector secret (201) or rotate it (200); the value is never shown again
    (city admin). Descriptions use it as `{"secret": name}`."""
    require_staff_role(staff, city.id, *ADMINS)
    row, created = await secrets.put(
        session=session,
        vault=vault,
        actor=staff.actor,
        city=city,
        name=name,
        value=secret_in.value,
    )
    body = ConnectorSecretRead.of(row).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.delete(
    "/cities/{city}/connector-secrets/{name}",
    operation_id="deleteConnectorSecret",
    summary="Delete a connector secret",
    status_code=204,
)
async def delete_secret(
    session: SessionDep, staff: CurrentStaff, city: CityDep, name: SecretName
) -> Response:
    """Delete a connector secret (city admin); connectors using it fail until it is set."""
    require_staff_role(staff, city.id, *ADMINS)
    await secrets.delete(session=session, actor=staff.actor, city=city, name=name)
    return Response(status_code=204)
