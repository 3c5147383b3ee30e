"""Campaigns: created, read, stopped, watched (claimed, used, left, by channel) and settled
(one line per channel for the subsidies it applied). Claims are in `claims`, their use at
payment in `payments`, the claim that asks an eligibility provider in `flows`."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound
from cityhub.subsidies import claims
from cityhub.subsidies.models import Campaign, CampaignStatus, ChannelQuota, Claim, ClaimStatus
from cityhub.subsidies.schemas import (
    AppliesTo,
    CampaignCreate,
    CampaignFigures,
    CampaignRead,
    ChannelFigures,
    QuotaRead,
    SettlementLine,
)


async def create(
    *, session: AsyncSession, city_id: int, actor: audit.Actor, campaign_in: CampaignCreate
) -> Campaign:
    """A new campaign, its whole budget left, and its channels' quotas."""
    taken = await session.scalar(
        select(Campaign.id).where(Campaign.city_id == city_id, Campaign.code == campaign_in.code)
    )
    if taken is not None:
        raise Conflict(
            f"campaign {campaign_in.code!r} exists", code="subsidy_campaign_exists", field="code"
        )
    if campaign_in.eligibility_service is not None:  # it must exist in the city
        await cities.get_service_or_raise(
            session=session, city_id=city_id, code=campaign_in.eligibility_service
        )
    data = campaign_in.model_dump(exclude={"quotas", "applies_to"})
    row = Campaign(
        city_id=city_id, **data, applies_to=campaign_in.applies_to.model_dump(),
        status=CampaignStatus.ACTIVE, left_fen=campaign_in.budget_fen,
        created_by=f"{actor.type}:{actor.id}"[:120], created_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    await session.flush()
    for quota in campaign_in.quotas:
        channel = await identity.get_channel_by_slug_or_raise(session=session, slug=quota.channel)
        session.add(
            ChannelQuota(
                city_id=city_id, campaign_id=row.id, channel_id=channel.id,
                quota_fen=quota.quota_fen, left_fen=quota.quota_fen,
            )
        )  # fmt: skip
    await session.flush()
    await audit.append(
        session=session, actor=actor, action="subsidy.campaign.created",
        object_type="subsidy_campaign", object_id=row.code, city_id=city_id,
        details={"budget_fen": row.budget_fen, "benefit": row.benefit_kind.value},
    )  # fmt: skip
    return row


async def get_or_raise(*, session: AsyncSession, city_id: int, code: str) -> Campaign:
    """A city's campaign by code, or NotFound."""
    found = await session.scalar(
        select(Campaign).where(Campaign.city_id == city_id, Campaign.code == code)
    )
    if found is None:
        raise NotFound(f"no subsidy campaign {code!r}", code="subsidy_campaign_not_found")
    return found


async def get_by_id(*, session: AsyncSession, city_id: int, campaign_id: int) -> Campaign:
    """A campaign by row id (a claim's)."""
    found = await session.get(Campaign, campaign_id)
    assert found is not None and found.city_id == city_id
    return found


async def get_all(
    *, session: AsyncSession, city_id: int, after: int | None = None, limit: int = 50
) -> list[Campaign]:
    """A city's campaigns, newest first."""
    query = (
        select(Campaign)
        .where(Campaign.city_id == city_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    if after:
        query = query.where(Campaign.id < after)
    return list((await session.scalars(query)).all())


async def quota_of(
    *, session: AsyncSession, campaign: Campaign, channel_id: int | None
) -> ChannelQuota | None:
    """The channel's quota of the campaign, if it has one."""
    if channel_id is None:
        return None
    return await session.scalar(
        select(ChannelQuota).where(
            ChannelQuota.city_id == campaign.city_id,
            ChannelQuota.campaign_id == campaign.id,
            ChannelQuota.channel_id == channel_id,
        )
    )


async def stop(*, session: AsyncSession, city_id: int, code: str, actor: audit.Actor) -> Campaign:
    """Stop the campaign (again: no change): no more claims or uses; every unused claim
    expires now and its amount goes back to the budget."""
    row = await get_or_raise(session=session, city_id=city_id, code=code)
    now = utcnow()
    changed = await session.execute(
        update(Campaign)
        .where(Campaign.id == row.id, Campaign.status == CampaignStatus.ACTIVE)
        .values(status=CampaignStatus.STOPPED, stopped_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(changed.rowcount) == 1:  # type: ignore[attr-defined]
        expired = await claims.expire(session=session, city_id=city_id, now=now, campaign_id=row.id)
        await audit.append(
            session=session, actor=actor, action="subsidy.campaign.stopped",
            object_type="subsidy_campaign", object_id=row.code, city_id=city_id,
            details={"expired_claims": expired},
        )  # fmt: skip
    await session.refresh(row)
    return row


async def _slugs(session: AsyncSession, channel_ids: set[int]) -> dict[int, str]:
    found = await identity.get_channels_by_id(session=session, channel_ids=channel_ids)
    return {i: c.slug for i, c in found.items()}


async def read(*, session: AsyncSession, city_slug: str, row: Campaign) -> CampaignRead:
    """The API shape of a campaign with its quotas."""
    quotas = list(
        (
            await session.scalars(
                select(ChannelQuota)
                .where(ChannelQuota.city_id == row.city_id, ChannelQuota.campaign_id == row.id)
                .order_by(ChannelQuota.id)
            )
        ).all()
    )
    slugs = await _slugs(session, {q.channel_id for q in quotas})
    return CampaignRead(
        code=row.code, city=city_slug, name=row.name, status=row.status, currency=row.currency,
        budget_fen=row.budget_fen, left_fen=row.left_fen, benefit_kind=row.benefit_kind,
        benefit_value=row.benefit_value, cap_fen=row.cap_fen, min_amount_fen=row.min_amount_fen,
        applies_to=AppliesTo.model_validate(row.applies_to), per_person=row.per_person,
        hold_seconds=row.hold_seconds, eligibility_service=row.eligibility_service,
        eligibility_list=row.eligibility_list,
        quotas=[QuotaRead(channel=slugs.get(q.channel_id, "?"), quota_fen=q.quota_fen,
                          left_fen=q.left_fen) for q in quotas],
        starts_at=row.starts_at, ends_at=row.ends_at, created_at=row.created_at,
        stopped_at=row.stopped_at,
    )  # fmt: skip


async def figures(*, session: AsyncSession, row: Campaign) -> CampaignFigures:
    """Claimed, used and left: in all, and by the channel each claim came through."""
    used = Claim.status == ClaimStatus.USED
    rows = (
        await session.execute(
            select(
                Claim.channel_id,
                func.count(),
                func.coalesce(func.sum(Claim.reserved_fen), 0),
                func.count().filter(used),
                func.coalesce(func.sum(Claim.used_fen).filter(used), 0),
            )
            .where(
                Claim.city_id == row.city_id,
                Claim.campaign_id == row.id,
                Claim.status.in_(claims.LIVE),
            )
            .group_by(Claim.channel_id)
        )
    ).all()
    slugs = await _slugs(session, {r[0] for r in rows if r[0] is not None})
    by_channel = sorted(
        (
            ChannelFigures(
                channel=slugs.get(r[0], "?") if r[0] is not None else "portal",
                claims=int(r[1]), claimed_fen=int(r[2]), used=int(r[3]), used_fen=int(r[4]),
            )
            for r in rows
        ),
        key=lambda f: f.channel,
    )  # fmt: skip
    return CampaignFigures(
        campaign=row.code, budget_fen=row.budget_fen, left_fen=row.left_fen,
        claimed_fen=sum(f.claimed_fen for f in by_channel),
        used_fen=sum(f.used_fen for f in by_channel),
        claims=sum(f.claims for f in by_channel), used=sum(f.used for f in by_channel),
        by_channel=by_channel,
    )  # fmt: skip


async def applied(*, session: AsyncSession, city_id: int) -> list[tuple[int, int | None, int, int]]:
    """Across the city's campaigns, per payment service and channel (None: the portal): the
    payments still standing that a subsidy lowered, and by how much in all (the parity
    report's column)."""
    rows = await session.execute(
        select(
            Claim.payment_service_id,
            Claim.payment_channel_id,
            func.count(),
            func.coalesce(func.sum(Claim.used_fen), 0),
        )
        .where(
            Claim.city_id == city_id,
            Claim.status == ClaimStatus.USED,
            Claim.payment_service_id.is_not(None),
        )
        .group_by(Claim.payment_service_id, Claim.payment_channel_id)
    )
    return [(int(s), c, int(n), int(fen)) for s, c, n, fen in rows if s is not None]


async def settlement(*, session: AsyncSession, row: Campaign) -> list[SettlementLine]:
    """One line per channel: the subsidies it applied to payments still standing (used
    claims; one given back by a refund is no longer used)."""
    rows = (
        await session.execute(
            select(Claim.payment_channel_id, func.count(), func.sum(Claim.used_fen))
            .where(
                Claim.city_id == row.city_id,
                Claim.campaign_id == row.id,
                Claim.status == ClaimStatus.USED,
            )
            .group_by(Claim.payment_channel_id)
        )
    ).all()
    slugs = await _slugs(session, {int(r[0]) for r in rows if r[0] is not None})
    return sorted(
        (
            SettlementLine(
                campaign=row.code, channel=slugs.get(int(r[0]), "?") if r[0] else "portal",
                payments=int(r[1]), subsidy_fen=int(r[2] or 0), currency=row.currency,
            )
            for r in rows
        ),
        key=lambda line: line.channel,
    )  # fmt: skip
