"""A claim used at payment, called by billing at three points, each one conditional UPDATE:

- the quote (`apply`): the claim is taken for the quoted payment (reserved, or applied to a
  quote that ran out) and what it takes off is returned; the channel charges that much less;
- the confirmation (`confirmed`): the claim is used, what it held beyond what it took goes back
  to the budget, and the subsidy is its own posting (the campaign's account -> the channel);
- a refund of the whole payment or the biller's refusal (`given_back`): the claim is the
  person's again (reserved) and the posting reversed, once however often it is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.billing import ledger
from cityhub.identity import residents
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Unprocessable
from cityhub.subsidies import claims
from cityhub.subsidies.models import BenefitKind, Campaign, Claim, ClaimStatus

if TYPE_CHECKING:
    import datetime as dt

    from cityhub.billing.models import Payment
    from cityhub.cities.models import Service


def account(campaign_id: int) -> str:
    """The ledger account of what a campaign has paid towards payments."""
    return f"subsidy:{campaign_id}"


def _rows(result: object) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def benefit(campaign: Campaign, *, held_fen: int, amount_fen: int) -> int:
    """What the claim takes off a payment of `amount_fen` (never more than the bill's part,
    nor than the claim holds)."""
    if campaign.benefit_kind == BenefitKind.PERCENT:
        off = amount_fen * campaign.benefit_value // 10_000
    else:
        off = campaign.benefit_value
    return max(0, min(off, held_fen, amount_fen))


def require_applies(campaign: Campaign, service: Service, amount_fen: int, currency: str) -> None:
    """Unprocessable unless the campaign's benefit may be used on this payment."""
    scope = campaign.applies_to or {}
    checks = (
        ("services", service.code),
        ("billers", service.provider),
        ("categories", service.category_code),
    )
    for key, value in checks:
        allowed = scope.get(key) or []
        if allowed and value not in allowed:
            raise Unprocessable(
                f"campaign {campaign.code!r} does not apply to {value!r} ({key})",
                code="subsidy_not_applicable",
                field="subsidy_claim",
            )
    if currency != campaign.currency or amount_fen < campaign.min_amount_fen:
        raise Unprocessable(
            f"campaign {campaign.code!r} applies to payments of at least "
            f"{campaign.min_amount_fen} {campaign.currency}",
            code="subsidy_not_applicable",
            field="subsidy_claim",
        )


async def apply(
    *,
    session: AsyncSession,
    city_id: int,
    channel_id: int,
    user_id: str | None,
    service: Service,
    amount_fen: int,
    currency: str,
    claim_id: str,
    payment_public_id: str,
    quote_expires_at: dt.datetime,
) -> int:
    """Take the person's claim for this quote; what it takes off the payment."""
    if user_id is None:
        raise Unprocessable(
            "a subsidy is used by a person: give `user_id`", code="subsidy_needs_user",
            field="user_id",
        )  # fmt: skip
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    # Any channel of the person (linked with proof: one resident record) may use the claim.
    claim = await claims.get_or_raise(
        session=session, city_id=city_id, public_id=claim_id, resident_id=found.resident.id
    )
    campaign = await session.get(Campaign, claim.campaign_id)
    assert campaign is not None
    now = utcnow()
    claims.require_open(campaign, now)
    require_applies(campaign, service, amount_fen, currency)
    off = benefit(campaign, held_fen=claim.reserved_fen, amount_fen=amount_fen)
    changed = await session.execute(
        update(Claim)
        .where(
            Claim.id == claim.id,
            Claim.expires_at > now,
            or_(
                Claim.status == ClaimStatus.RESERVED,
                and_(Claim.status == ClaimStatus.APPLIED, Claim.applied_until <= now),
            ),
        )
        .values(
            status=ClaimStatus.APPLIED, used_fen=off, payment_public_id=payment_public_id,
            payment_channel_id=channel_id, payment_service_id=service.id,
            applied_until=quote_expires_at,
        )
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if _rows(changed) != 1:
        raise Conflict(
            f"subsidy claim {claim_id!r} is used, applied to another payment or expired",
            code="subsidy_claim_unavailable",
            field="subsidy_claim",
        )
    return off


async def confirmed(*, session: AsyncSession, payment: Payment) -> None:
    """The subsidised payment was confirmed: its claim used, once; what it held beyond what it
    took back to the budget; the subsidy posted (campaign -> channel)."""
    result = await session.execute(
        update(Claim)
        .where(
            Claim.city_id == payment.city_id,
            Claim.payment_public_id == payment.public_id,
            Claim.status == ClaimStatus.APPLIED,
            Claim.used_fen == payment.subsidy_fen,
        )
        .values(status=ClaimStatus.USED, used_at=utcnow())
        .returning(Claim.campaign_id, Claim.channel_id, Claim.reserved_fen)
        .execution_options(synchronize_session=False)
    )
    row = result.first()
    if row is None:  # the claim moved to another quote once this one ran out
        raise Conflict(
            "the payment's subsidy claim is no longer held for it; create a new payment",
            code="subsidy_claim_unavailable",
        )
    campaign_id, channel_id, held = int(row[0]), row[1], int(row[2])
    if held > payment.subsidy_fen:
        await session.execute(
            update(Claim)
            .where(Claim.city_id == payment.city_id, Claim.payment_public_id == payment.public_id,
                   Claim.status == ClaimStatus.USED)
            .values(reserved_fen=payment.subsidy_fen)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        await claims.give_back(
            session, city_id=payment.city_id,
            amounts=[(campaign_id, channel_id, held - payment.subsidy_fen)],
        )  # fmt: skip
    await ledger.post(
        session=session,
        city_id=payment.city_id,
        kind="subsidy.applied",
        currency=payment.currency,
        lines=[
            (account(campaign_id), payment.subsidy_fen),
            (ledger.channel_receivable(payment.channel_id), -payment.subsidy_fen),
        ],
        payment_id=payment.id,
        memo=f"subsidy of campaign {campaign_id} on {payment.public_id}",
    )


async def given_back(*, session: AsyncSession, payment: Payment, why: str) -> bool:
    """The payment was refunded in full or refused: its claim the person's again (reserved,
    holding what it took) and the subsidy's posting reversed, once; whether this call did."""
    result = await session.execute(
        update(Claim)
        .where(
            Claim.city_id == payment.city_id,
            Claim.payment_public_id == payment.public_id,
            Claim.status == ClaimStatus.USED,
        )
        .values(
            status=ClaimStatus.RESERVED, used_fen=0, payment_public_id=None,
            payment_channel_id=None, payment_service_id=None, applied_until=None, used_at=None,
        )
        .returning(Claim.campaign_id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    row = result.first()
    if row is None:
        return False
    await ledger.post(
        session=session,
        city_id=payment.city_id,
        kind="subsidy.returned",
        currency=payment.currency,
        lines=[
            (account(int(row[0])), -payment.subsidy_fen),
            (ledger.channel_receivable(payment.channel_id), payment.subsidy_fen),
        ],
        payment_id=payment.id,
        memo=f"subsidy on {payment.public_id} given back: {why}",
    )
    return True


def check_refund(payment: Payment, amount_fen: int, last: bool) -> None:
    """A part refund of a subsidised payment leaves at least the subsidy to the last part
    (that one gives the subsidy back): the channel is never credited more than its user paid."""
    if not payment.subsidy_fen or last:
        return
    most = payment.amount_fen - payment.refunded_fen - payment.subsidy_fen
    if amount_fen > most:
        raise Unprocessable(
            f"this payment carried a subsidy of {payment.subsidy_fen}: refund at most {most} "
            "now, or all that is left",
            code="refund_splits_subsidy",
            field="amount_fen",
        )


async def claim_of_payment(
    *, session: AsyncSession, city_id: int, payment_public_id: str
) -> str | None:
    """The public id of the claim used on a payment, if one was."""
    found: str | None = await session.scalar(
        select(Claim.public_id).where(
            Claim.city_id == city_id, Claim.payment_public_id == payment_public_id
        )
    )
    return found
