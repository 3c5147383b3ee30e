"""A city's connector descriptions: validate, store, list, and try one operation."""

from __future__ import annotations

import copy
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities.models import City
from cityhub.connectors import definitions, ssrf
from cityhub.connectors.models import ConnectorDefinition
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity import audit
from cityhub.platform.errors import CityHubError, Conflict, NotFound, Unprocessable


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
    actor: audit.Actor,
    city: City,
    definition: Any,
    allow: frozenset[str],
    replace: bool = False,
) -> tuple[ConnectorDefinition, bool]:
    """Validate and store a description (replacing one of the same name only if asked);
    whether it was created. Internal addresses are refused unless allow-listed."""
    checked = definitions.validate(definition)
    await ssrf.check_url(checked["base_url"], allow=allow)
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
    created = found is None
    if found is None:
        found = ConnectorDefinition(city_id=city.id, name=name)
        session.add(found)
    found.kind = checked["kind"]
    found.definition = checked
    await session.flush()
    await audit.append(
        session=session,
        actor=actor,
        action="connector.create" if created else "connector.update",
        object_type="connector",
        object_id=name,
        city_id=city.id,
        details={"kind": checked["kind"], "base_url": checked["base_url"]},
    )
    return found, created


def redacted(definition: dict[str, Any]) -> dict[str, Any]:
    """The description with inline secrets hidden (for answers and listings)."""
    shown = copy.deepcopy(definition)
    auth = shown.get("auth") or {}
    for name in ("key", "secret"):
        if isinstance(auth.get(name), dict) and "value" in auth[name]:
            auth[name]["value"] = "***"
    return shown


async def try_operation(
    *,
    hub: ConnectorHub,
    city_id: int,
    definition: dict[str, Any],
    operation: str | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Call one read operation of a description through its guard; a report of what came back
    or what went wrong (never raises for the provider's failures)."""
    test = definition.get("test") or {}
    operation = operation or test.get("operation") or next(iter(definition["operations"]))
    if operation not in definition["operations"]:
        raise Unprocessable(
            f"the connector has no operation {operation!r}",
            code="unknown_operation",
            field="operation",
        )
    connector, guard = await hub.described(city_id=city_id, definition=definition)
    moves_money = definition["kind"] == "biller" and operation in ("pay", "reverse")
    if moves_money or not connector.idempotent(operation):
        raise Unprocessable(
            f"{operation!r} changes something at the provider; only read operations are tried",
            code="operation_not_idempotent",
            field="operation",
        )
    values = params if params is not None else dict(test.get("params") or {})
    started = time.perf_counter()
    report: dict[str, Any] = {"operation": operation, "params": values, "provider": guard.provider}
    try:
        if definition["kind"] == "biller" and operation == "bills":
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
