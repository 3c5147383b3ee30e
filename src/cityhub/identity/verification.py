"""Verifying a resident's identity: the one use case behind the API's verification and the
portal's verify page.

`verify` runs it in the steps every provider call does (`queries` does the same), so that no
database transaction stays open while the registry thinks: `prepare` (the city's population
registry, read), `ask` (the registry; no session), `record` (the level, the consent, and, when
the number belongs to a person the hub already knows, a link request with a code for the phone
on that person's record, in the caller's transaction). `send_link_code` then stores the link
request and texts its code to the phone on the person's record.

Levels: `authority_checked` when a city is named and its registry confirms the name and
number (and the liveness token, when one is sent); `channel_asserted` otherwise, the channel
vouching for its own real-name check. The portal vouches for nothing: it always asks a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.sms import SmsGateway
from cityhub.connectors.types import IdentityAuthority, IdentityCheck
from cityhub.identity import audit, linking, residents
from cityhub.identity.models import Channel, IdentityLevel, Resident
from cityhub.identity.pii import Vault
from cityhub.identity.purposes import Purpose
from cityhub.platform.config import Settings
from cityhub.platform.errors import Conflict, Unprocessable
from cityhub.platform.throttle import Throttle
from cityhub.platform.uow import between_transactions, keep

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service


@dataclass(frozen=True)
class Claim:
    """Who the caller says they are."""

    name: str
    id_number: str
    liveness_token: str | None = None


@dataclass(frozen=True)
class Registry:
    """The population registry a verification asks (none: the channel vouches)."""

    city: City
    service: Service
    authority: IdentityAuthority


@dataclass(frozen=True)
class Prepared:
    """What the checks before the registry found: the registry to ask, and the person who
    already holds the number when that is not the caller (a link must then be proven)."""

    registry: Registry | None
    known_person_id: int | None


@dataclass(frozen=True)
class Outcome:
    """The resident as verified, and the link request when the number is someone else's."""

    resident: Resident
    link: linking.IssuedLink | None
    liveness: str = "not_checked"


async def prepare(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    channel: Channel,
    user_id: str,
    claim: Claim,
    city_slug: str | None,
) -> Prepared:
    """Every check before the registry is asked (read only)."""
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel.id, user_id=user_id
    )
    holder = await residents.get_by_id_number(
        session=session, vault=vault, id_number=claim.id_number
    )
    known = holder.id if holder is not None and holder.id != found.resident.id else None
    registry = await _registry(session, hub, channel, city_slug)
    return Prepared(registry=registry, known_person_id=known)


async def registry_cities(*, session: AsyncSession, channel_id: int) -> list[City]:
    """The cities granted to the channel whose population registry is on the hub."""
    ids = await cities.granted_city_ids(session=session, channel_id=channel_id)
    found = await cities.get_all_cities(session=session, city_ids=ids, after=None, limit=1000)
    having = []
    for city in found:
        if await cities.get_all_services(
            session=session, city_id=city.id, kind=ServiceKind.IDENTITY.value, limit=1
        ):
            having.append(city)
    return having


async def take_limits(*, throttle: Throttle, channel: Channel, prepared: Prepared) -> None:
    """The limits on link codes, when a link will be asked for (call with no transaction
    open: the counters write in transactions of their own)."""
    if prepared.known_person_id is not None:
        await linking.take_limits(
            throttle=throttle, channel_id=channel.id, person_id=prepared.known_person_id
        )


async def _registry(
    session: AsyncSession, hub: ConnectorHub, channel: Channel, city_slug: str | None
) -> Registry | None:
    """The registry of the city named (the channel must have a grant there), or None."""
    if city_slug is None:
        return None
    city = await cities.get_city_by_slug(session=session, slug=city_slug)
    if city is None:
        raise Unprocessable(f"no city {city_slug!r}", code="city_not_found", field="city")
    await cities.require_city_granted(session=session, channel_id=channel.id, city=city)
    found = await cities.get_all_services(
        session=session, city_id=city.id, kind=ServiceKind.IDENTITY.value, limit=1
    )
    if not found:
        raise Unprocessable(
            f"{city.slug} has no population registry on the hub",
            code="no_identity_authority",
            field="city",
        )
    authority = await hub.authority(session=session, service=found[0])
    return Registry(city=city, service=found[0], authority=authority)


async def ask(prepared: Prepared, claim: Claim) -> IdentityCheck | None:
    """The registry's word (422 naming the field when it says no); None without a registry."""
    registry = prepared.registry
    if registry is None:
        return None
    answer = await registry.authority.check(
        name=claim.name, id_number=claim.id_number, liveness_token=claim.liveness_token
    )
    if not answer.match:
        raise Unprocessable(
            "the population registry does not hold this name with this identity number",
            code="identity_not_confirmed",
            field="id_number",
        )
    if answer.liveness == "failed":
        raise Unprocessable(
            "the population registry did not accept the liveness token for this person",
            code="liveness_failed",
            field="liveness_token",
        )
    return answer


async def record(
    *,
    session: AsyncSession,
    vault: Vault,
    channel: Channel,
    user_id: str,
    claim: Claim,
    purpose: str | Purpose,
    prepared: Prepared,
    answer: IdentityCheck | None,
) -> Outcome:
    """Write what the verification established, in the caller's transaction."""
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel.id, user_id=user_id
    )
    registry = prepared.registry
    if registry is not None and answer is not None:
        level, checked_by = IdentityLevel.AUTHORITY_CHECKED, f"registry:{registry.service.provider}"
    else:
        level, checked_by = IdentityLevel.CHANNEL_ASSERTED, f"channel:{channel.slug}"
    verified = await residents.verify_identity(
        session=session,
        vault=vault,
        channel=channel,
        found=found,
        name=claim.name,
        id_number=claim.id_number,
        purpose=purpose,
        level=level,
        checked_by=checked_by,
    )
    actor = audit.Actor(type="channel", id=str(channel.id), name=channel.name, names=channel.names)
    await residents.record_access(
        session=session,
        resident_id=found.resident.id,
        actor=actor,
        purpose=Purpose.VERIFICATION,
        stated=None if isinstance(purpose, Purpose) else purpose,
        fields="name, id_number (verification)",
    )
    if registry is not None:
        service = registry.service
        await residents.record_access(
            session=session,
            resident_id=found.resident.id,
            actor=audit.Actor.provider(service.provider, service.provider_names),
            purpose=Purpose.IDENTITY_CHECK,
            args={"via": channel.slug, "via_names": channel.names},
            fields="name, id_number (identity check)",
            city_id=registry.city.id,
        )
    link = None
    if verified.known_person is not None:
        if verified.known_person.id != prepared.known_person_id:
            # Someone else took the number between the checks and now: limits not counted.
            raise Conflict(
                "a concurrent request changed the same thing; retry", code="concurrent_change"
            )
        link = await linking.request_link(
            session=session,
            vault=vault,
            channel=channel,
            found=found,
            target=verified.known_person,
        )
    liveness = answer.liveness if answer is not None else "not_checked"
    return Outcome(resident=verified.resident, link=link, liveness=liveness)


async def verify(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    throttle: Throttle,
    channel: Channel,
    user_id: str,
    claim: Claim,
    city_slug: str | None,
    purpose: str | Purpose,
) -> Outcome:
    """The verification, whole: the checks, the registry asked with no transaction open (the
    limits on link codes counted first), and what it established recorded."""
    prepared = await prepare(
        session=session,
        vault=vault,
        hub=hub,
        channel=channel,
        user_id=user_id,
        claim=claim,
        city_slug=city_slug,
    )
    async with between_transactions(session):  # nothing held while the registry thinks
        await take_limits(throttle=throttle, channel=channel, prepared=prepared)
        answer = await ask(prepared, claim)
    return await record(
        session=session,
        vault=vault,
        channel=channel,
        user_id=user_id,
        claim=claim,
        purpose=purpose,
        prepared=prepared,
        answer=answer,
    )


async def send_link_code(
    *,
    session: AsyncSession,
    settings: Settings,
    hub: ConnectorHub,
    issued: linking.IssuedLink,
    app: str,
) -> str | None:
    """Store the link request, then text its code to the phone on the person's record
    (`SmsFailed` if the gateway will not); the code itself in a demo hub, which shows it as it
    shows sign-in codes. `app` names what the code links, in the text."""
    await keep(session)  # the request stands before its code is sent
    if issued.code is None or issued.phone is None:
        return None
    text = (
        f"CityHub: code {issued.code} links {app} to your identity. It works for 5 minutes. "
        "If you did not ask for this, ignore it and never share the code."
    )
    await SmsGateway.from_settings(settings).send(
        hub.client(), issued.phone, text, ref=f"link-{issued.request.id}"
    )
    return issued.code if settings.env == "demo" else None
