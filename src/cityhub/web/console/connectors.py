"""The city console's connectors page: each service's guard (circuit breaker, calls, latency)
for every role of the city; for city admins, also the stored connector descriptions (secrets
hidden, as the API shows them) and the city's connector secrets, which an admin sets, rotates
and deletes here but never reads: a secret is listed by name and times only, and its form
field is a password input that is never filled back in.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cityhub.cities import service as cities
from cityhub.connectors import secrets
from cityhub.connectors import service as connectors
from cityhub.connectors.deps import HubDep
from cityhub.connectors.resilience import guard_name
from cityhub.identity.deps import VaultDep, require_staff_role
from cityhub.platform import metrics
from cityhub.platform.deps import SessionDep
from cityhub.web.console.home import MAX_ROWS, ConsoleStaff
from cityhub.web.console.ops import ADMINS, _form, _is_admin, _page
from cityhub.web.console.pages import _city
from cityhub.web.pages import redirect

router = APIRouter(include_in_schema=False)


def mean_latency_ms(guard: str) -> float | None:
    """The mean latency of a guard's calls in this process (from the metrics)."""
    labels = {"provider": guard}
    count = metrics.REGISTRY.get_sample_value("cityhub_connector_call_seconds_count", labels)
    total = metrics.REGISTRY.get_sample_value("cityhub_connector_call_seconds_sum", labels)
    if not count or total is None:
        return None
    return round(total / count * 1000, 1)


@router.get("/console/c/{slug}/connectors", response_class=HTMLResponse)
async def connectors_page(
    request: Request, session: SessionDep, staff: ConsoleStaff, hub: HubDep, slug: str
) -> Response:
    """The city's services with their guard's breaker state, calls and latency; for admins,
    the stored descriptions and the connector secrets (names only)."""
    city = await _city(session, staff, slug)
    services = await cities.get_all_services(session=session, city_id=city.id, limit=MAX_ROWS)
    snapshot = hub.snapshot()
    rows = []
    for service in services:
        name = guard_name(city.id, service.code)
        state = snapshot.get(name)
        rows.append((service, name, state, mean_latency_ms(name) if state else None))
    admin = _is_admin(staff, city.id)
    stored, described = [], []
    if admin:
        stored = await secrets.get_all(session=session, city_id=city.id)
        described = [
            (row, json.dumps(connectors.redacted(row.definition), ensure_ascii=False, indent=2))
            for row in await connectors.get_all_definitions(session=session, city_id=city.id)
        ]
    return _page(
        request,
        staff,
        "console/connectors.html",
        city=city,
        rows=rows,
        admin=admin,
        secrets=stored,
        descriptions=described,
        section="connectors",
    )


@router.post("/console/c/{slug}/connectors/secrets", response_class=HTMLResponse)
async def put_secret(
    request: Request, session: SessionDep, staff: ConsoleStaff, vault: VaultDep, slug: str
) -> Response:
    """Set or rotate a connector secret (city admin); the value is not shown again."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    await secrets.put(
        session=session,
        vault=vault,
        actor=staff.actor,
        city=city,
        name=form.get("name", "").strip()[:200],
        value=form.get("value", "")[: secrets.MAX_VALUE_LENGTH + 1],
    )
    return redirect(f"/console/c/{city.slug}/connectors#secrets")


@router.post("/console/c/{slug}/connectors/secrets/delete", response_class=HTMLResponse)
async def delete_secret(
    request: Request, session: SessionDep, staff: ConsoleStaff, slug: str
) -> Response:
    """Delete a connector secret (city admin)."""
    form = await _form(request, staff)
    city = await _city(session, staff, slug)
    require_staff_role(staff, city.id, *ADMINS)
    await secrets.delete(
        session=session, actor=staff.actor, city=city, name=form.get("name", "")[:200]
    )
    return redirect(f"/console/c/{city.slug}/connectors#secrets")
