"""A campaign (its budget and what is left of it), its channels' quotas, and the claims.

What is left is taken with one conditional UPDATE (`left_fen = left_fen - :v WHERE left_fen >=
:v`), on the campaign and on the claiming channel's quota, so no concurrency takes more than
there is. A person's claims are numbered 1..per_person under UNIQUE (city, campaign, resident,
n): two claims of one person race for one number and one of them loses; a claim that expires
or is returned lets go of its number (`n` NULL) and of its amount."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow

Fen = BigInteger


class BenefitKind(enum.StrEnum):
    """What a claim is worth: a fixed amount off, a percentage with a cap, or a voucher."""

    FIXED = "fixed"
    PERCENT = "percent"
    VOUCHER = "voucher"


class CampaignStatus(enum.StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


class ClaimStatus(enum.StrEnum):
    """reserved -> applied (to a quoted payment) -> used (confirmed); a reservation not used in
    time expires; a refund or a refused payment gives it back (reserved again)."""

    RESERVED = "reserved"
    APPLIED = "applied"
    USED = "used"
    EXPIRED = "expired"


class Campaign(TenantMixin, Base):
    """A city's subsidy campaign."""

    __tablename__ = "subsidy_campaigns"
    __table_args__ = (UniqueConstraint("city_id", "code"),)

    code: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[CampaignStatus] = mapped_column(str_enum(CampaignStatus, "campaign_status"))
    currency: Mapped[str] = mapped_column(String(3))
    budget_fen: Mapped[int] = mapped_column(Fen)
    left_fen: Mapped[int] = mapped_column(Fen)
    benefit_kind: Mapped[BenefitKind] = mapped_column(str_enum(BenefitKind, "benefit_kind"))
    # fen off (fixed, voucher) or basis points of the amount (percent, 1000 = 10 %)
    benefit_value: Mapped[int] = mapped_column(Fen)
    cap_fen: Mapped[int | None] = mapped_column(Fen, default=None)  # percent: at most this
    min_amount_fen: Mapped[int] = mapped_column(Fen, default=0)  # payments of at least this
    # what it applies to: service codes, billers (providers), categories (bill sub-types);
    # an empty list is no restriction
    applies_to: Mapped[dict[str, Any]] = mapped_column(default=dict)
    per_person: Mapped[int] = mapped_column(default=1)
    hold_seconds: Mapped[int] = mapped_column(default=7 * 24 * 3600)  # a claim lasts this
    eligibility_service: Mapped[str | None] = mapped_column(String(60), default=None)
    eligibility_list: Mapped[str | None] = mapped_column(String(40), default=None)
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    @property
    def reserve_fen(self) -> int:
        """What one claim reserves of the budget: its value, or a percentage's cap."""
        if self.benefit_kind == BenefitKind.PERCENT:
            assert self.cap_fen is not None  # the schema asks for one
            return self.cap_fen
        return self.benefit_value


class ChannelQuota(TenantMixin, Base):
    """What one channel may hand out of a campaign (none: only the campaign's budget)."""

    __tablename__ = "subsidy_quotas"
    __table_args__ = (
        UniqueConstraint("city_id", "campaign_id", "channel_id"),
        tenant_fk("campaign_id", "subsidy_campaigns", ondelete="CASCADE"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    quota_fen: Mapped[int] = mapped_column(Fen)
    left_fen: Mapped[int] = mapped_column(Fen)


class Claim(TenantMixin, Base):
    """One person's claim on a campaign, through one channel (or the portal)."""

    __tablename__ = "subsidy_claims"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        UniqueConstraint("city_id", "campaign_id", "resident_id", "n"),
        Index("ix_subsidy_claims_campaign", "city_id", "campaign_id", "status"),
        Index("ix_subsidy_claims_payment", "city_id", "payment_public_id"),
        Index("ix_subsidy_claims_expiry", "city_id", "status", "expires_at"),
        tenant_fk("campaign_id", "subsidy_campaigns", ondelete="CASCADE"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[int] = mapped_column(BigId)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    n: Mapped[int | None] = mapped_column(default=None)  # NULL once it lets go of its number
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id"), default=None)
    user_id: Mapped[str | None] = mapped_column(String(128), default=None)
    status: Mapped[ClaimStatus] = mapped_column(str_enum(ClaimStatus, "claim_status"))
    reserved_fen: Mapped[int] = mapped_column(Fen)  # taken from the budget
    used_fen: Mapped[int] = mapped_column(Fen, default=0)  # off the payment it is applied to
    payment_public_id: Mapped[str | None] = mapped_column(String(40), default=None)
    payment_channel_id: Mapped[int | None] = mapped_column(BigId, default=None)
    payment_service_id: Mapped[int | None] = mapped_column(BigId, default=None)
    applied_until: Mapped[dt.datetime | None] = mapped_column(default=None)  # the quote's end
    expires_at: Mapped[dt.datetime] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
