"""Information queries: validate, authorise, ask the provider, mask, and record the access.

A query runs in three steps so that no database transaction stays open while a provider
thinks (on SQLite an open transaction holds the write lock): `prepare` (parameters, grant,
resident, consent, the guarded connector), then `ask` (the provider; no session), then
`record` (the data-access log and the audit log, in the request's transaction).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.connectors.definitions import error_field, first_error
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Record, RecordQuery, Subject
from cityhub.identity import audit, residents
from cityhub.identity import service as identity
from cityhub.identity.pii import Vault, mask_id_number, mask_name, mask_phone, scrub
from cityhub.identity.purposes import Purpose
from cityhub.platform import metrics, sandbox, timeline
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError, Conflict, Forbidden, NotFound, Unprocessable
from cityhub.platform.patterns import StaffSchemaValidator
from cityhub.platform.uow import between_transactions
from cityhub.queries.catalogue import MASKS, QueryType, resolve

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

CONSENT_SCOPE = "records"
_MASKERS = {"id_number": mask_id_number, "name": mask_name, "phone": mask_phone}


ANSWERED = "query.answered"  # counted per city and day by cityhub.outbox.usage


@dataclass(frozen=True)
class PreparedQuery:
    """A query that passed every check, ready to be asked."""

    city: City
    service: Service
    query: QueryType
    params: dict[str, Any]
    connector: RecordQuery
    subject: Subject | None = None
    resident_id: int | None = None


@dataclass(frozen=True)
class Answer:
    """Records as the channel may see them."""

    records: list[Record]
    fetched_at: dt.datetime
    cached: bool


async def get_query_service_or_raise(*, session: AsyncSession, city: City, code: str) -> Service:
    """A query service of the city, or NotFound."""
    service = await cities.get_service_or_raise(session=session, city_id=city.id, code=code)
    if service.kind != ServiceKind.QUERY:
        raise NotFound(f"service {code!r} is not a query", code="not_a_query")
    return service


def check_params(query: QueryType, params: dict[str, Any]) -> None:
    """Unprocessable, naming the parameter, unless the parameters fit the query's schema."""
    # The city wrote the schema: its patterns run on RE2, never on a backtracking engine.
    error = first_error(StaffSchemaValidator(query.params_schema), params)
    if error is not None:
        field = f"params.{error_field(error)}".removesuffix(".body")
        raise Unprocessable(
            f"{field}: {error.message}"[:400], code="invalid_parameter", field=field
        )


async def prepare(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    city: City,
    channel_id: int,
    code: str,
    user_id: str | None,
    params: dict[str, Any],
) -> PreparedQuery:
    """Every check a query must pass before the provider is asked."""
    service = await get_query_service_or_raise(session=session, city=city, code=code)
    await cities.require_service_granted(session=session, channel_id=channel_id, service=service)
    if service.status != ServiceStatus.ACTIVE:
        raise Conflict(f"service {code!r} is {service.status.value}", code="service_not_active")
    query = resolve(service)
    check_params(query, params)
    connector = await hub.records(session=session, service=service)
    base = PreparedQuery(city, service, query, params, connector)
    if not query.personal:
        return base
    if not user_id:
        raise Unprocessable(
            "a personal query needs the user_id of the resident asking",
            code="user_id_required",
            field="user_id",
        )
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    resident = found.resident
    residents.require_level(
        resident, service.required_level, user_id=user_id, why=f"query {service.code!r}"
    )
    await residents.require_consent(
        session=session, resident=resident, channel_id=channel_id, scope=CONSENT_SCOPE
    )
    id_number = residents.id_number_or_raise(vault, resident, user_id=user_id)
    asked = params.get(query.subject_param) if query.subject_param else None
    if asked is not None and str(asked).upper() != id_number:
        raise Forbidden(
            "a resident may look up only their own records",
            code="not_own_records",
            field=f"params.{query.subject_param}",
        )
    subject = Subject(id_number=id_number)
    return PreparedQuery(city, service, query, params, connector, subject, resident.id)


async def ask(*, hub: ConnectorHub, prepared: PreparedQuery) -> Answer:
    """The provider's records, masked; public answers come from the cache while fresh."""
    key = None
    counted = metrics.QUERIES.labels(prepared.city.slug, prepared.service.code, "answered")
    if not prepared.query.personal:
        canonical = json.dumps(prepared.params, sort_keys=True, ensure_ascii=False)
        # The sandbox's answers and the live ones are cached apart.
        key = (
            "query",
            sandbox.current(),
            prepared.service.city_id,
            prepared.service.code,
            canonical,
        )
        hit = hub.memo.get(key)
        if hit is not None:
            metrics.QUERIES.labels(prepared.city.slug, prepared.service.code, "cached").inc()
            return Answer(records=hit[0], fetched_at=hit[1], cached=True)
    try:
        found = await prepared.connector.run(
            query=prepared.query.name, params=prepared.params, subject=prepared.subject
        )
    except CityHubError as exc:
        outcome = "refused" if exc.status < 500 else "failed"
        metrics.QUERIES.labels(prepared.city.slug, prepared.service.code, outcome).inc()
        if not isinstance(exc, Forbidden):
            raise
        raise Forbidden(
            exc.detail or "the provider says these records are not the resident's",
            code="not_own_records",
            field=exc.field or "params",
        ) from None
    records = [mask(r, prepared.query) for r in found] if prepared.query.personal else found
    answer = Answer(records=records, fetched_at=utcnow(), cached=False)
    counted.inc()
    if key is not None:
        hub.memo.put(key, (answer.records, answer.fetched_at))
    return answer


def mask(record: Record, query: QueryType) -> Record:
    """A personal record as a channel may show it: names and numbers masked, and any
    identity or phone number left in free text scrubbed."""
    masks = {**MASKS, **query.mask}
    shown: Record = {}
    for name, value in record.items():
        kind = masks.get(name)
        if isinstance(value, str) and kind in _MASKERS and value:
            shown[name] = _MASKERS[kind](value)
        elif isinstance(value, str):
            shown[name] = scrub(value)
        else:
            shown[name] = value
    return shown


async def run(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    city: City,
    channel_id: int,
    code: str,
    user_id: str | None,
    params: dict[str, Any],
    actor: audit.Actor,
) -> tuple[PreparedQuery, Answer]:
    """A query as a channel's resident (or anyone, for public data) runs it, from the API or
    the portal: checked, asked with no transaction open, then counted and audited."""
    prepared = await prepare(
        session=session,
        vault=vault,
        hub=hub,
        city=city,
        channel_id=channel_id,
        code=code,
        user_id=user_id,
        params=params,
    )
    async with between_transactions(session):
        answer = await ask(hub=hub, prepared=prepared)
    await record(session=session, prepared=prepared, actor=actor, answer=answer)
    return prepared, answer


async def record(
    *, session: AsyncSession, prepared: PreparedQuery, actor: audit.Actor, answer: Answer
) -> None:
    """Count the answered query (the usage counters behind the console's figures) and note a
    personal one in the resident's data-access log and the audit log: the channel read the
    records, and the provider was sent the resident's identity number."""
    await outbox.enqueue(
        session=session,
        topic=ANSWERED,
        city_id=prepared.city.id,
        payload={"service": prepared.service.code, "records": len(answer.records)},
    )
    if prepared.resident_id is None:
        return
    service = prepared.service
    fields = ", ".join(sorted({k for r in answer.records for k in r})) or "none found"
    names = {
        "zh-Hans": service.name_zh_hans,
        "zh-Hant": service.name_zh_hant,
        "en": service.name_en,
    }
    await residents.record_access(
        session=session,
        resident_id=prepared.resident_id,
        actor=actor,
        purpose=Purpose.QUERY,
        args={"service": service.code, "service_names": names, "records": len(answer.records)},
        fields=fields[:200],
        city_id=service.city_id,
    )
    await residents.record_access(
        session=session,
        resident_id=prepared.resident_id,
        actor=audit.Actor.provider(service.provider, service.provider_names),
        purpose=Purpose.QUERY_ANSWER,
        args={
            "service": service.code,
            "service_names": names,
            "via": actor.id,
            "via_names": actor.names or {},
        },  # fmt: skip
        fields="id_number (to find the records)",
        city_id=service.city_id,
    )


async def queries_of(
    *,
    session: AsyncSession,
    resident_id: int,
    channel_ids: set[int],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The record queries the person ran through these channels, newest first (their history):
    what `record` noted in their data-access log."""
    found = await identity.channel_accesses_of(
        session=session,
        resident_id=resident_id,
        channel_ids=channel_ids,
        purpose_prefix="query ",
        before=before,
        kind="query",
        limit=limit,
    )
    return [
        timeline.Entry(
            kind="query",
            row_id=access.id,
            at=access.at,
            city_id=access.city_id,
            channel_id=channel_id,
            ref=None,
            title=access.purpose.removeprefix("query ").split(":", 1)[0],
            status="answered",
            details={
                "purpose": access.purpose,
                "fields": access.fields,
                "service_names": (access.purpose_args or {}).get("service_names") or {},
            },
        )
        for access, channel_id in found
    ]
