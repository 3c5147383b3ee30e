"""Which simulator stands in for a service in the sandbox (test mode, `platform/sandbox.py`).

A `simulator:<kind>` service is its own sandbox: the same simulator, reached at the sandbox's
simulators (`sandbox_url`). Any other service names one in its connector_config,
`"sandbox": {"kind": "water", "provider_id": "sh-water"}`; without it, test traffic for the
service is refused (409 `sandbox_unavailable`), never sent to the live provider.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from cityhub.platform.errors import Conflict

if TYPE_CHECKING:
    from cityhub.cities.models import Service

_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")


def unavailable(service: Service, why: str) -> Conflict:
    """The 409 for test traffic to a service the sandbox has no simulator for."""
    return Conflict(
        f"service {service.code!r} has no sandbox ({why}): test credentials reach only "
        "the sandbox's simulators",
        code="sandbox_unavailable",
    )


def target(service: Service, kinds: Collection[str]) -> tuple[str, str]:
    """The simulator (kind, provider id) standing in for the service, if it is one of `kinds`."""
    configured = service.connector_config.get("sandbox")
    family, _, variant = service.connector.partition(":")
    if isinstance(configured, dict):
        kind, provider_id = configured.get("kind"), configured.get("provider_id")
    elif family.strip().lower() == "simulator":
        kind, provider_id = variant.strip().lower(), service.connector_config.get("provider_id")
    else:
        raise unavailable(service, "its connector_config names no sandbox simulator")
    if not isinstance(kind, str) or kind not in kinds:
        raise unavailable(service, f"no simulator of this kind ({kind!r})")
    if not isinstance(provider_id, str) or not _PROVIDER_ID.match(provider_id):
        raise unavailable(service, "the sandbox's provider_id is missing or malformed")
    return kind, provider_id
