"""Routes of information queries: a query's parameter schema, and running a query."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from cityhub.cities import service as cities
from cityhub.cities.deps import CityDep
from cityhub.connectors.deps import HubDep
from cityhub.identity.deps import CurrentCaller, CurrentChannel, StaffCaller, VaultDep
from cityhub.platform.deps import SessionDep
from cityhub.queries import service
from cityhub.queries.catalogue import resolve

router = APIRouter(prefix="/v1", tags=["queries"])
ServiceCode = Annotated[str, Path(max_length=60)]
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug")]


class QuerySchemaRead(BaseModel):
    service: str
    query: str
    personal: bool = Field(description="about the resident: needs verification and consent")
    consent_scope: str | None = Field(description="the consent a personal query needs")
    params_schema: dict[str, Any] = Field(
        description="JSON Schema of `params`; `x-title` and `x-description` of a property are "
        "its label and hint by language"
    )
    fields: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the records' fields for people: name, label by language, type (text, "
        "number, money in minor units, date, month, time, enum with `values` labelled by "
        "language), unit, sources (the field to read per language)",
    )


class QueryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="the channel's own user id"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="see the query's schema")


class QueryRead(BaseModel):
    service: str
    query: str
    personal: bool
    source: str = Field(description="the provider that answered")
    records: list[dict[str, Any]]
    count: int
    fetched_at: dt.datetime
    cached: bool


@router.get(
    "/cities/{city}/services/{code}/query-schema",
    operation_id="getQuerySchema",
    summary="A query's parameters as JSON Schema",
    response_model=QuerySchemaRead,
)
async def query_schema(
    session: SessionDep, caller: CurrentCaller, city: CityDep, code: ServiceCode
) -> QuerySchemaRead:
    """The parameters a query takes, as JSON Schema, for a channel to render its form."""
    found = await service.get_query_service_or_raise(session=session, city=city, code=code)
    if not isinstance(caller, StaffCaller):
        await cities.require_service_granted(
            session=session, channel_id=caller.channel.id, service=found
        )
    query = resolve(found)
    return QuerySchemaRead(
        service=found.code,
        query=query.name,
        personal=query.personal,
        consent_scope=service.CONSENT_SCOPE if query.personal else None,
        params_schema=query.params_schema,
        fields=[f.describe() for f in query.fields],
    )


@router.post(
    "/cities/{city}/services/{code}/queries",
    operation_id="runQuery",
    summary="Run a query",
    response_model=QueryRead,
)
async def run_query(
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    caller: CurrentChannel,
    city: CitySlug,
    code: ServiceCode,
    query_in: QueryCreate,
) -> QueryRead:
    """Run a query for the channel's resident (personal: verified and consented) or for
    anyone (public data). Parameters are checked against the schema before any provider
    call; personal answers are masked and every personal query is audited."""
    caller.require("queries:read")
    found_city = await cities.get_city_or_raise(session=session, slug=city)
    prepared, answer = await service.run(
        session=session,
        vault=vault,
        hub=hub,
        city=found_city,
        channel_id=caller.channel.id,
        code=code,
        user_id=query_in.user_id,
        params=query_in.params,
        actor=caller.actor,
    )
    return QueryRead(
        service=prepared.service.code,
        query=prepared.query.name,
        personal=prepared.query.personal,
        source=prepared.service.provider,
        records=answer.records,
        count=len(answer.records),
        fetched_at=answer.fetched_at,
        cached=answer.cached,
    )
