"""Which implementation serves a service: built from its `connector` and `connector_config`.

| connector             | connector_config                         | implementation            |
|-----------------------|------------------------------------------|---------------------------|
| `simulator:<kind>`    | `{"provider_id": "sh-water"}`            | the simulator's own API   |
| `simulator:hospital`  | `{"provider_id": "ruijin"}`              | FHIR R4 on the simulator  |
| `simulator:population-registry` | `{"provider_id": "sh-registry"}` | the registry's own API    |
| `fhir`                | `{"base_url": "https://.../fhir"}`       | FHIR R4                   |
| `http`                | `{"definition": "pudong-water"}`         | a stored declarative file |

Any of them may add `"resilience": {"timeout": 2, "retries": 1, ...}`. Every implementation
is returned behind its (city, service) guard (`guarded`), so the rest of the hub gets
resilience without asking for it. One `ConnectorHub` per process (`app.state.connectors`).

Addresses a city wrote (a `base_url` in connector_config or in a description) are reached
through the pinned client of `platform.outbound`: checked at every connection, on the address
connected to. The operator's own simulator URL is reached with a plain client.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.connectors import credentials, sandbox, secrets
from cityhub.connectors.cache import TTLCache
from cityhub.connectors.endpoint import Endpoint, auth_of
from cityhub.connectors.fees import HubCollectedFees
from cityhub.connectors.fhir import FhirHospital
from cityhub.connectors.generic import GenericConnector
from cityhub.connectors.guarded import (
    GuardedAuthority,
    GuardedBiller,
    GuardedEligibility,
    GuardedHospital,
    GuardedRecords,
)
from cityhub.connectors.models import ConnectorDefinition
from cityhub.connectors.resilience import (
    Guard,
    Guards,
    Policy,
    description_guard_name,
    guard_name,
)
from cityhub.connectors.simulated import (
    BILLER_KINDS,
    RECORD_KINDS,
    SimulatorAuthority,
    SimulatorBiller,
    SimulatorEligibility,
    SimulatorRecords,
)
from cityhub.connectors.types import (
    Biller,
    EligibilityChecker,
    Hospital,
    IdentityAuthority,
    RecordQuery,
)
from cityhub.identity.pii import Vault
from cityhub.platform import sandbox as mode
from cityhub.platform.config import Settings
from cityhub.platform.errors import CityHubError, Unavailable
from cityhub.platform.outbound import OutboundPolicy, pinned_client, split_url

if TYPE_CHECKING:
    from cityhub.cities.models import Service

_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")


def misconfigured(service: Service, why: str) -> Unavailable:
    """The 503 for a service whose connector is not set up right (the city must fix it)."""
    return Unavailable(
        f"service {service.code!r} cannot reach its provider: {why}",
        code="connector_misconfigured",
    )


class ConnectorHub:
    """Builds guarded connectors and holds what they share in this process: HTTP clients,
    each service's guard, and a short-lived cache of public answers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.guards = Guards()
        self.memo = TTLCache(settings.query_cache_seconds)
        self.outbound = OutboundPolicy.from_settings(settings)
        self._clients: dict[tuple[str, str, str] | None, httpx.AsyncClient] = {}
        self._operator: httpx.AsyncClient | None = None
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        """The vault that opens the cities' connector secrets."""
        if self._vault is None:
            self._vault = Vault.from_settings(self.settings)
        return self._vault

    def operator_client(self) -> httpx.AsyncClient:
        """The client for the operator's own endpoints (the simulator URL of the settings)."""
        if self._operator is None:
            self._operator = httpx.AsyncClient(timeout=httpx.Timeout(60.0), trust_env=False)
        return self._operator

    def client(self, tls: dict[str, str] | None = None) -> httpx.AsyncClient:
        """The pinned client for addresses a city wrote (one per client certificate)."""
        key = (tls["cert"], tls["key"], tls.get("ca", "")) if tls else None
        found = self._clients.get(key)
        if found is not None:
            return found
        verify: ssl.SSLContext | bool = True
        if tls:
            try:
                verify = ssl.create_default_context(cafile=tls.get("ca"))
                verify.load_cert_chain(tls["cert"], tls["key"])
            except (OSError, ssl.SSLError) as exc:
                raise Unavailable(
                    f"the connector's certificate files cannot be used: {exc}",
                    code="connector_misconfigured",
                ) from None
        # The guard bounds every call; no proxy from the environment, no redirects.
        client = pinned_client(self.outbound, verify=verify)
        self._clients[key] = client
        return client

    def policy(self, *overrides: dict[str, Any] | None) -> Policy:
        """The settings' resilience policy with overrides applied in order."""
        merged: dict[str, Any] = {}
        for extra in overrides:
            if isinstance(extra, dict):
                merged.update(extra)
        return Policy.from_settings(self.settings, merged)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every guard's breaker and in-flight state in this process."""
        return self.guards.snapshot()

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._operator is not None:
            await self._operator.aclose()
            self._operator = None

    # -- building ----------------------------------------------------------------------------

    async def biller(self, *, session: AsyncSession, service: Service) -> Biller:
        """The guarded biller of a bill service (or the payee of a hospital's fees)."""
        if service.kind == ServiceKind.APPOINTMENT:
            return HubCollectedFees(service.code)
        if mode.is_test():
            endpoint, guard = self._sandbox(service, BILLER_KINDS)
            return GuardedBiller(SimulatorBiller(endpoint), guard)
        family, variant = _parse(service)
        if family == "simulator" and variant in BILLER_KINDS:
            endpoint, guard = await self._simulator(service, variant)
            return GuardedBiller(SimulatorBiller(endpoint), guard)
        if family == "http":
            generic, guard = await self._generic(session, service, "biller")
            return GuardedBiller(generic, guard)
        raise misconfigured(service, f"{service.connector!r} is not a biller")

    async def hospital(self, *, session: AsyncSession, service: Service) -> Hospital:
        """The guarded hospital of an appointment service."""
        if mode.is_test():
            endpoint, guard = self._sandbox(service, ("hospital",), suffix="/fhir")
            return GuardedHospital(FhirHospital(endpoint), guard)
        family, variant = _parse(service)
        if family == "simulator" and variant == "hospital":
            endpoint, guard = await self._simulator(service, variant, suffix="/fhir")
            return GuardedHospital(FhirHospital(endpoint), guard)
        if family == "fhir":
            config = service.connector_config
            base_url = config.get("base_url")
            if not isinstance(base_url, str):
                raise misconfigured(service, "connector_config.base_url is not set")
            host = _host(service, base_url)
            provider = str(config.get("provider_id") or f"fhir/{host}")
            guard = self._guard(service, provider)
            endpoint = self._endpoint(provider, base_url, guard.policy, self.client())
            return GuardedHospital(FhirHospital(endpoint), guard)
        raise misconfigured(service, f"{service.connector!r} is not a hospital")

    async def records(self, *, session: AsyncSession, service: Service) -> RecordQuery:
        """The guarded agency of a query service."""
        if mode.is_test():
            endpoint, guard = self._sandbox(service, RECORD_KINDS)
            kind = sandbox.target(service, RECORD_KINDS)[0]
            return GuardedRecords(SimulatorRecords(endpoint, kind), guard)
        family, variant = _parse(service)
        if family == "simulator" and variant in RECORD_KINDS:
            endpoint, guard = await self._simulator(service, variant)
            return GuardedRecords(SimulatorRecords(endpoint, variant), guard)
        if family == "http":
            generic, guard = await self._generic(session, service, "records")
            return GuardedRecords(generic, guard)
        raise misconfigured(service, f"{service.connector!r} does not answer queries")

    async def eligibility(self, *, session: AsyncSession, service: Service) -> EligibilityChecker:
        """The guarded eligibility check of a lottery service (or a subsidy's list)."""
        if mode.is_test():
            endpoint, guard = self._sandbox(service, ("vehicle-admin", "civil-affairs"))
            return GuardedEligibility(SimulatorEligibility(endpoint), guard)
        family, variant = _parse(service)
        if family == "simulator" and variant in ("vehicle-admin", "civil-affairs"):
            endpoint, guard = await self._simulator(service, variant)
            return GuardedEligibility(SimulatorEligibility(endpoint), guard)
        if family == "http":
            generic, guard = await self._generic(session, service, "eligibility")
            return GuardedEligibility(generic, guard)
        raise misconfigured(service, f"{service.connector!r} does not check eligibility")

    async def authority(self, *, session: AsyncSession, service: Service) -> IdentityAuthority:
        """The guarded population registry of an identity service."""
        if mode.is_test():
            endpoint, guard = self._sandbox(service, ("population-registry",))
            return GuardedAuthority(SimulatorAuthority(endpoint), guard)
        family, variant = _parse(service)
        if family == "simulator" and variant == "population-registry":
            endpoint, guard = await self._simulator(service, variant)
            return GuardedAuthority(SimulatorAuthority(endpoint), guard)
        raise misconfigured(service, f"{service.connector!r} is not a population registry")

    async def described(
        self,
        *,
        session: AsyncSession,
        city_id: int,
        definition: dict[str, Any],
        overrides: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> tuple[GenericConnector, Guard]:
        """A stored description's connector and its guard (`name`: a service's guard; by
        default the description's own, for `connectors test`). Its secrets are read now, from
        the city's store or the environment variables set aside for the city."""
        provider = f"http/{definition['name']}"
        policy = self.policy(definition.get("resilience"), overrides)
        name = name or description_guard_name(city_id, definition["name"])
        guard = self.guards.get(name, policy, provider=provider)
        ready = await self._resolved(session, city_id, definition)
        auth = ready.get("auth") or {}
        headers = {
            k: v["value"] if isinstance(v, dict) else v
            for k, v in (ready.get("headers") or {}).items()
        }
        endpoint = Endpoint(
            provider=provider,
            base_url=ready["base_url"],
            client=self.client(auth if auth.get("type") == "mtls" else None),
            max_bytes=guard.policy.max_response_bytes,
            auth=auth_of(auth),
            headers=headers,
        )
        return GenericConnector(endpoint, ready), guard

    async def _resolved(
        self, session: AsyncSession, city_id: int, definition: dict[str, Any]
    ) -> dict[str, Any]:
        specs = [s for _f, s in credentials.secret_specs(definition) if isinstance(s, dict)]
        if not specs:
            return definition
        stored = await secrets.values(
            session=session,
            vault=self.vault,
            city_id=city_id,
            wanted=credentials.referenced(definition),
        )
        slug = ""
        if any("env" in s for s in specs):
            city = await cities.get_city(session=session, city_id=city_id)
            slug = city.slug if city is not None else ""
        lookup = secrets.lookup(stored, city_slug=slug, prefix=self.settings.connector_env_prefix)
        return credentials.resolved(definition, lookup)

    def _guard(self, service: Service, provider: str) -> Guard:
        policy = self.policy(service.connector_config.get("resilience"))
        return self.guards.get(guard_name(service.city_id, service.code), policy, provider=provider)

    def _endpoint(
        self, provider: str, base_url: str, policy: Policy, client: httpx.AsyncClient
    ) -> Endpoint:
        return Endpoint(
            provider=provider,
            base_url=base_url,
            client=client,
            max_bytes=policy.max_response_bytes,
        )

    async def _simulator(
        self, service: Service, variant: str, suffix: str = ""
    ) -> tuple[Endpoint, Guard]:
        config = service.connector_config
        provider_id = config.get("provider_id")
        if not isinstance(provider_id, str) or not _PROVIDER_ID.match(provider_id):
            raise misconfigured(service, "connector_config.provider_id is missing or malformed")
        base_url = config.get("base_url")
        if isinstance(base_url, str):  # the city's: through the pinned client
            _host(service, base_url)
            client = self.client()
        else:  # the operator's own setting: trusted
            base_url, client = self.settings.simulators_url, self.operator_client()
        provider = f"{variant}/{provider_id}"
        guard = self._guard(service, provider)
        url = f"{base_url.rstrip('/')}/{variant}/{provider_id}{suffix}"
        return self._endpoint(provider, url, guard.policy, client), guard

    def _sandbox(
        self, service: Service, kinds: Collection[str], suffix: str = ""
    ) -> tuple[Endpoint, Guard]:
        """The sandbox simulator standing in for the service (test mode): at the operator's
        sandbox URL, behind a guard of its own, whatever the live connector is."""
        variant, provider_id = sandbox.target(service, kinds)
        provider = f"sandbox/{variant}/{provider_id}"
        policy = self.policy(service.connector_config.get("resilience"))
        name = f"{guard_name(service.city_id, service.code)}@sandbox"
        guard = self.guards.get(name, policy, provider=provider)
        base_url = self.settings.sandbox_simulators_url.rstrip("/")
        url = f"{base_url}/{variant}/{provider_id}{suffix}"
        return self._endpoint(provider, url, guard.policy, self.operator_client()), guard

    async def _generic(
        self, session: AsyncSession, service: Service, kind: str
    ) -> tuple[GenericConnector, Guard]:
        name = service.connector_config.get("definition")
        if not isinstance(name, str):
            raise misconfigured(service, "connector_config.definition is not set")
        row = await session.scalar(
            select(ConnectorDefinition).where(
                ConnectorDefinition.city_id == service.city_id, ConnectorDefinition.name == name
            )
        )
        if row is None:
            raise misconfigured(service, f"the city has no connector named {name!r}")
        if row.kind != kind:
            raise misconfigured(service, f"connector {name!r} is a {row.kind}, not a {kind}")
        return await self.described(
            session=session,
            city_id=service.city_id,
            definition=row.definition,
            overrides=service.connector_config.get("resilience"),
            name=guard_name(service.city_id, service.code),
        )


def _host(service: Service, base_url: str) -> str:
    try:
        return split_url(base_url, field="connector_config.base_url")[1]
    except CityHubError as exc:
        raise misconfigured(service, exc.detail or exc.title) from None


def _parse(service: Service) -> tuple[str, str]:
    family, _, variant = service.connector.partition(":")
    return family.strip().lower(), variant.strip().lower()
