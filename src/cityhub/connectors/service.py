"""A city's connector descriptions: validate, store (their secrets in the city's store), list,
and try one operation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.connectors import credentials, definitions, secrets
from cityhub.connectors.generic import GenericConnector, idempotent
from cityhub.connectors.models import ConnectorDefinition
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.resilience import Guard
from cityhub.identity import audit
from cityhub.identity.pii import Vault
from cityhub.platform.errors import CityHubError, Conflict, NotFound, Unprocessable
from cityhub.platform.outbound import OutboundPolicy, check_url

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def get_all_definitions(*, session: AsyncSession, city_id: int) -> list[ConnectorDefinition]:
    """The city's connector descriptions by name."""
    query = (
        select(ConnectorDefinition)
        .where(ConnectorDefinition.city_id == city_id)
        .order_by(ConnectorDefinition.name)
    )
    return list((await session.scalars(query)).all())


async def get_definition_or_raise(
    *, session: AsyncSession, city_id: int, name: str
) -> ConnectorDefinition:
    """The city's description by name, or NotFound."""
    found = await session.scalar(
        select(ConnectorDefinition).where(
            ConnectorDefinition.city_id == city_id, ConnectorDefinition.name == name
        )
    )
    if found is None:
        raise NotFound(f"no connector {name!r} in this city", code="connector_not_found")
    return found


async def save_definition(
    *,
    session: AsyncSession,
    vault: Vault,
    actor: audit.Actor,
    city: City,
    definition: Any,
    policy: OutboundPolicy,
    env_prefix: str,
    replace: bool = False,
) -> tuple[ConnectorDefinition, bool]:
    """Validate and store a description (replacing one of the same name only if asked);
    whether it was created. Internal addresses are refused unless allow-listed; secrets must
    be the city's (its store, or environment variables set aside for it), and inline values
    move into the store."""
    checked = definitions.validate(definition)
    await check_url(checked["base_url"], policy=policy)
    name = checked["name"]
    found = await session.scalar(
        select(ConnectorDefinition).where(
            ConnectorDefinition.city_id == city.id, ConnectorDefinition.name == name
        )
    )
    if found is not None and not replace:
        raise Conflict(
            f"connector {name!r} exists; replace it explicitly",
            code="connector_exists",
            field="name",
        )
    stored, inline = credentials.move_inline(checked)
    known = await secrets.names(session=session, city_id=city.id) | set(inline)
    credentials.check_references(stored, city_slug=city.slug, prefix=env_prefix, stored=known)
    for secret_name, value in inline.items():
        await secrets.put(
            session=session, vault=vault, actor=actor, city=city, name=secret_name, value=value
        )
    created = found is None
    if found is None:
        found = ConnectorDefinition(city_id=city.id, name=name)
        session.add(found)
    found.kind = stored["kind"]
    found.definition = stored
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="connector.create" if created else "connector.update",
        object_type="connector",
        object_id=name,
        city_id=city.id,
        details={"kind": stored["kind"], "base_url": stored["base_url"]},
    )
    return found, created


def redacted(definition: dict[str, Any]) -> dict[str, Any]:
    """The description with its secrets hidden (for answers, listings and pages)."""
    return credentials.redacted(definition)


@dataclass(frozen=True)
class Trial:
    """One read operation of a description, ready to call (its secrets already read)."""

    connector: GenericConnector
    guard: Guard
    kind: str
    operation: str
    params: dict[str, Any]


async def prepare_trial(
    *,
    session: AsyncSession,
    hub: ConnectorHub,
    city_id: int,
    definition: dict[str, Any],
    operation: str | None = None,
    params: dict[str, Any] | None = None,
) -> Trial:
    """Check that the operation may be tried (it exists, it changes nothing) and build its
    connector; the database is not needed after this."""
    test = definition.get("test") or {}
    operation = operation or test.get("operation") or next(iter(definition["operations"]))
    if operation not in definition["operations"]:
        raise Unprocessable(
            f"the connector has no operation {operation!r}",
            code="unknown_operation",
            field="operation",
        )
    moves_money = definition["kind"] == "biller" and operation in ("pay", "reverse")
    if moves_money or not idempotent(definition["operations"][operation]):
        raise Unprocessable(
            f"{operation!r} changes something at the provider; only read operations are tried",
            code="operation_not_idempotent",
            field="operation",
        )
    connector, guard = await hub.described(session=session, city_id=city_id, definition=definition)
    values = params if params is not None else dict(test.get("params") or {})
    return Trial(connector, guard, definition["kind"], operation, values)


async def try_operation(trial: Trial) -> dict[str, Any]:
    """Call the trial's operation through its guard; a report of what came back or what went
    wrong (never raises for the provider's failures)."""
    connector, guard = trial.connector, trial.guard
    operation, values = trial.operation, trial.params
    started = time.perf_counter()
    report: dict[str, Any] = {"operation": operation, "params": values, "provider": guard.provider}
    try:
        if trial.kind == "biller" and operation == "bills":
            bills = await guard.call(
                operation,
                lambda: connector.bills(account=str(values.get("account", ""))),
                idempotent=True,
            )
            result: Any = [b.model_dump(mode="json") for b in bills]
        else:
            result = await guard.call(
                operation, lambda: connector.call(operation, values), idempotent=True
            )
    except CityHubError as exc:
        report.update(
            ok=False, error={"status": exc.status, "code": exc.code, "detail": exc.detail}
        )
    else:
        report.update(ok=True, result=result)
    report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    report["breaker"] = guard.breaker.state.value
    return report
