"""Claims: taken, read, expired.

A claim is one transaction of three conditional statements: the person's next number (an
`INSERT ... ON CONFLICT DO NOTHING` on UNIQUE (city, campaign, resident, n): of two claims of
one person racing for one number, one inserts and the other finds it taken), the channel's
quota and then the campaign's budget (`UPDATE ... SET left_fen = left_fen - :v WHERE left_fen
>= :v`, the hot row last so that its lock is held the shortest). A statement that changes
nothing refuses the claim and the transaction rolls back whole. The same on SQLite and
PostgreSQL.

What the budget holds is exact at every commit: `budget_fen = left_fen + sum(reserved_fen of
live claims)`, a live claim being reserved, applied or used (a used one holds what it took
off its payment; the rest went back at its confirmation).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound
from cityhub.subsidies.models import (
    Campaign,
    CampaignStatus,
    ChannelQuota,
    Claim,
    ClaimStatus,
)
from cityhub.subsidies.schemas import ClaimRead

LIVE = (ClaimStatus.RESERVED, ClaimStatus.APPLIED, ClaimStatus.USED)
BATCH = 1000


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def new_id() -> str:
    """A claim's public id."""
    import uuid

    return f"sbc_{uuid.uuid4().hex}"


def require_open(campaign: Campaign, now: dt.datetime) -> None:
    """Conflict unless the campaign takes claims and uses now."""
    if campaign.status != CampaignStatus.ACTIVE:
        raise Conflict(f"campaign {campaign.code!r} was stopped", code="subsidy_campaign_stopped")
    if now < campaign.starts_at:
        raise Conflict(
            f"campaign {campaign.code!r} starts at {campaign.starts_at.isoformat()}",
            code="subsidy_campaign_not_started",
        )
    if now >= campaign.ends_at:
        raise Conflict(
            f"campaign {campaign.code!r} ended at {campaign.ends_at.isoformat()}",
            code="subsidy_campaign_ended",
        )


def refuse_as_read(campaign: Campaign, now: dt.datetime, quota: ChannelQuota | None = None) -> None:
    """Conflict if the campaign is closed, or spent as read (a refusal that takes no lock;
    the conditional UPDATEs decide the rest)."""
    require_open(campaign, now)
    amount = campaign.reserve_fen
    if campaign.left_fen < amount or (quota is not None and quota.left_fen < amount):
        raise _sold_out(campaign)


def _sold_out(campaign: Campaign) -> Conflict:
    return Conflict(
        f"campaign {campaign.code!r} has no budget left", code="subsidy_budget_exhausted"
    )


def _insert(session: AsyncSession) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def _numbers_taken(session: AsyncSession, campaign: Campaign, resident_id: int) -> set[int]:
    found = await session.scalars(
        select(Claim.n).where(
            Claim.city_id == campaign.city_id,
            Claim.campaign_id == campaign.id,
            Claim.resident_id == resident_id,
            Claim.n.is_not(None),
        )
    )
    return {int(n) for n in found.all() if n is not None}


def _already(campaign: Campaign) -> Conflict:
    return Conflict(
        f"this person has claimed campaign {campaign.code!r} as often as it allows "
        f"({campaign.per_person})",
        code="subsidy_already_claimed",
        field="user_id",
    )


async def take(
    *,
    session: AsyncSession,
    campaign: Campaign,
    resident_id: int,
    channel_id: int | None,
    user_id: str | None,
    quota: ChannelQuota | None,
) -> Claim:
    """The person's claim, its amount taken from the channel's quota and the budget; Conflict
    if the person has claimed as often as allowed, or nothing is left."""
    now = utcnow()
    refuse_as_read(campaign, now, quota)
    amount = campaign.reserve_fen
    taken = await _numbers_taken(session, campaign, resident_id)
    free = [n for n in range(1, campaign.per_person + 1) if n not in taken]
    if not free:
        raise _already(campaign)
    values: dict[str, Any] = {
        "city_id": campaign.city_id, "public_id": new_id(), "campaign_id": campaign.id,
        "resident_id": resident_id, "n": free[0], "channel_id": channel_id, "user_id": user_id,
        "status": ClaimStatus.RESERVED, "reserved_fen": amount, "used_fen": 0,
        "expires_at": min(now + dt.timedelta(seconds=campaign.hold_seconds), campaign.ends_at),
        "created_at": now,
    }  # fmt: skip
    made = await session.scalar(
        _insert(session)(Claim)
        .values(values)
        .on_conflict_do_nothing(index_elements=["city_id", "campaign_id", "resident_id", "n"])
        .returning(Claim.id)
    )
    if made is None:  # the same person's other claim took the number first
        raise _already(campaign)
    if quota is not None:
        await _take_from(session, ChannelQuota, quota.id, amount, campaign)
    await _take_from(session, Campaign, campaign.id, amount, campaign)
    return Claim(id=made, **values)


async def _take_from(
    session: AsyncSession, table: type[Campaign] | type[ChannelQuota], row_id: int, amount: int,
    campaign: Campaign,
) -> None:  # fmt: skip
    """The one conditional UPDATE: what is left never goes below zero."""
    changed = await session.execute(
        update(table)
        .where(table.city_id == campaign.city_id, table.id == row_id, table.left_fen >= amount)
        .values(left_fen=table.left_fen - amount)
        .execution_options(synchronize_session=False)
    )
    if _rows(changed) != 1:
        raise _sold_out(campaign)


async def give_back(
    session: AsyncSession, *, city_id: int, amounts: list[tuple[int, int | None, int]]
) -> None:
    """Return (campaign id, channel id, fen) to the budgets and the channels' quotas."""
    to_campaign: dict[int, int] = defaultdict(int)
    to_quota: dict[tuple[int, int], int] = defaultdict(int)
    for campaign_id, channel_id, fen in amounts:
        if fen <= 0:
            continue
        to_campaign[campaign_id] += fen
        if channel_id is not None:
            to_quota[(campaign_id, channel_id)] += fen
    for campaign_id, fen in sorted(to_campaign.items()):
        await session.execute(
            update(Campaign)
            .where(Campaign.city_id == city_id, Campaign.id == campaign_id)
            .values(left_fen=Campaign.left_fen + fen)
            .execution_options(synchronize_session=False)
        )
    for (campaign_id, channel_id), fen in sorted(to_quota.items()):
        await session.execute(
            update(ChannelQuota)
            .where(
                ChannelQuota.city_id == city_id,
                ChannelQuota.campaign_id == campaign_id,
                ChannelQuota.channel_id == channel_id,
            )
            .values(left_fen=ChannelQuota.left_fen + fen)
            .execution_options(synchronize_session=False)
        )


async def expire(
    *,
    session: AsyncSession,
    city_id: int,
    now: dt.datetime,
    campaign_id: int | None = None,
) -> int:
    """Expire the unused claims past their time (all of one campaign's, when given: it was
    stopped), each once, and return what they held to the budgets; how many."""
    unused = or_(
        Claim.status == ClaimStatus.RESERVED,
        and_(Claim.status == ClaimStatus.APPLIED, Claim.applied_until <= now),
    )
    query = update(Claim).where(Claim.city_id == city_id, unused)
    if campaign_id is None:
        query = query.where(Claim.expires_at <= now)
    else:
        query = query.where(Claim.campaign_id == campaign_id)
    result = await session.execute(
        query.values(status=ClaimStatus.EXPIRED, n=None)
        .returning(Claim.campaign_id, Claim.channel_id, Claim.reserved_fen)
        .execution_options(synchronize_session=False)
    )
    rows = [(int(r[0]), r[1], int(r[2])) for r in result.all()]
    await give_back(session, city_id=city_id, amounts=rows)
    return len(rows)


async def get_or_raise(
    *, session: AsyncSession, city_id: int, public_id: str, resident_id: int | None = None
) -> Claim:
    """A claim of the city (of this person, when given), or NotFound."""
    query = select(Claim).where(Claim.city_id == city_id, Claim.public_id == public_id)
    if resident_id is not None:
        query = query.where(Claim.resident_id == resident_id)
    found = await session.scalar(query)
    if found is None:
        raise NotFound(f"no subsidy claim {public_id!r}", code="subsidy_claim_not_found")
    return found


async def get_all_of(
    *, session: AsyncSession, city_id: int, resident_id: int, after: int | None, limit: int
) -> list[tuple[Claim, Campaign]]:
    """A person's claims in the city, newest first, with their campaigns."""
    query = (
        select(Claim, Campaign)
        .join(Campaign, (Campaign.city_id == Claim.city_id) & (Campaign.id == Claim.campaign_id))
        .where(Claim.city_id == city_id, Claim.resident_id == resident_id)
        .order_by(Claim.id.desc())
        .limit(limit)
    )
    if after:
        query = query.where(Claim.id < after)
    return [(c, k) for c, k in (await session.execute(query)).all()]


def read(claim: Claim, campaign: Campaign, now: dt.datetime | None = None) -> ClaimRead:
    """The API shape; an applied claim whose quote ran out reads as reserved again."""
    status = claim.status
    if (
        status == ClaimStatus.APPLIED
        and claim.applied_until
        and claim.applied_until <= (now or utcnow())
    ):
        status = ClaimStatus.RESERVED
    return ClaimRead(
        id=claim.public_id,
        campaign=campaign.code,
        status=status,
        reserved_fen=claim.reserved_fen,
        used_fen=claim.used_fen if status != ClaimStatus.RESERVED else 0,
        currency=campaign.currency,
        payment_id=claim.payment_public_id if status != ClaimStatus.RESERVED else None,
        expires_at=claim.expires_at,
        created_at=claim.created_at,
        used_at=claim.used_at,
    )
