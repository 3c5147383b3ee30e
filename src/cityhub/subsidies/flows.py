"""A claim, called by the API and the console alike: the person found (every channel's user
linked with proof to one resident record is one person), the campaign and the channel's
quota read, the eligibility provider asked with no transaction open when the campaign names
one (the access put on record either way), then the claim's conditional statements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Eligibility, EligibilityChecker, Subject
from cityhub.identity import audit, linking, residents
from cityhub.identity.enums import IdentityLevel
from cityhub.identity.pii import Vault
from cityhub.identity.purposes import Purpose
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound, Unavailable, Unprocessable
from cityhub.platform.uow import between_transactions, keep
from cityhub.subsidies import claims, service
from cityhub.subsidies.models import Campaign, Claim

if TYPE_CHECKING:
    from cityhub.cities.models import City
    from cityhub.identity.models import Resident


@dataclass(frozen=True)
class Claimant:
    """Who claims: the person's record, and the channel and its user it came through."""

    resident: Resident
    channel_id: int | None
    user_id: str | None


async def claim(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    actor: audit.Actor,
    city: City,
    code: str,
    channel_id: int,
    user_id: str,
) -> tuple[Claim, Campaign]:
    """The channel's verified user claims the campaign."""
    # A campaign closed or spent refuses before anything else is read (most claims of a rush).
    campaign = await service.get_or_raise(session=session, city_id=city.id, code=code)
    claims.refuse_as_read(campaign, utcnow())
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    linking.require_proven(found)  # a person is one person only where the link was proven
    who = Claimant(found.resident, channel_id, user_id)
    return await claim_for(
        session=session, vault=vault, hub=hub, actor=actor, city=city, code=code, who=who,
        campaign=campaign,
    )  # fmt: skip


async def claim_for(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    actor: audit.Actor,
    city: City,
    code: str,
    who: Claimant,
    campaign: Campaign | None = None,
) -> tuple[Claim, Campaign]:
    """The person claims (through a channel, or the portal: no channel, no quota); the
    campaign as the caller read it, if it did."""
    residents.require_level(
        who.resident, IdentityLevel.CHANNEL_ASSERTED, user_id=who.user_id or "me",
        why="a subsidy (one per person)",
    )  # fmt: skip
    if campaign is None:
        campaign = await service.get_or_raise(session=session, city_id=city.id, code=code)
    claims.require_open(campaign, utcnow())
    if campaign.eligibility_service is not None:
        await _eligible(session, vault, hub, actor, campaign, who)
    quota = await service.quota_of(session=session, campaign=campaign, channel_id=who.channel_id)
    made = await claims.take(
        session=session, campaign=campaign, resident_id=who.resident.id,
        channel_id=who.channel_id, user_id=who.user_id, quota=quota,
    )  # fmt: skip
    return made, campaign


async def _eligible(
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    actor: audit.Actor,
    campaign: Campaign,
    who: Claimant,
) -> None:
    """Ask the campaign's provider whether the person is on its list (422 if not)."""
    assert campaign.eligibility_service is not None and campaign.eligibility_list is not None
    provider = await cities.get_service_or_raise(
        session=session, city_id=campaign.city_id, code=campaign.eligibility_service
    )
    checker = await hub.eligibility(session=session, service=provider)
    subject = Subject(
        id_number=residents.id_number_or_raise(vault, who.resident, user_id=who.user_id or "me"),
        name=vault.decrypt(who.resident.name_enc) if who.resident.name_enc else None,
    )
    async with between_transactions(session):
        verdict = await _check(checker, campaign.eligibility_list, subject)
    await residents.record_access(
        session=session,
        resident_id=who.resident.id,
        actor=audit.Actor.provider(provider.provider, provider.provider_names),
        purpose=Purpose.SUBSIDY_CHECK,
        args={
            "list": campaign.eligibility_list,
            "campaign": campaign.code,
            "campaign_name": campaign.name,
            "via": actor.id,
            "via_names": actor.names or {},
        },
        fields="id_number, name (to check eligibility)",
        city_id=campaign.city_id,
    )
    await keep(session)
    if not verdict.eligible:
        reasons = verdict.reasons or ["the provider gave no reason"]
        raise Unprocessable(
            "not eligible: " + "; ".join(reasons), code="not_eligible", field="user_id",
            reasons=reasons, reason_texts=verdict.reason_texts[: len(reasons)],
        )  # fmt: skip
    await session.refresh(campaign)  # it may have moved while the provider answered


async def _check(checker: EligibilityChecker, name: str, subject: Subject) -> Eligibility:
    """The provider's verdict; a provider that does not know the list is a set-up fault."""
    try:
        return await checker.check(lottery=name, subject=subject)
    except NotFound as exc:
        raise Unavailable(
            f"the eligibility provider does not know the list {name!r}: {exc.detail}",
            code="connector_misconfigured",
        ) from None
