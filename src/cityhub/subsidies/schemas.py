"""The subsidies' API shapes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cityhub.subsidies.models import BenefitKind, CampaignStatus, ClaimStatus

Code = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$", description="the campaign's code in the city")


class AppliesTo(BaseModel):
    """What a campaign's benefit may be used on (an empty list: no restriction)."""

    model_config = ConfigDict(extra="forbid")

    services: list[str] = Field(default_factory=list, max_length=100)
    billers: list[str] = Field(default_factory=list, max_length=100, description="providers")
    categories: list[str] = Field(
        default_factory=list, max_length=100, description="bill sub-types (service categories)"
    )


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(max_length=60, description="the channel's slug")
    quota_fen: int = Field(gt=0, le=10**13)


class CampaignCreate(BaseModel):
    """A campaign: its budget, benefit, who is eligible, limits, channels' quotas and window
    (`starts_at`, `ends_at` with their offset; the console enters them in city time)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Code
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    budget_fen: int = Field(gt=0, le=10**13)
    benefit_kind: BenefitKind
    benefit_value: int = Field(
        gt=0, le=10**11, description="fen off (fixed, voucher) or basis points (percent)"
    )
    cap_fen: int | None = Field(default=None, gt=0, le=10**11, description="percent: at most")
    min_amount_fen: int = Field(default=0, ge=0, le=10**11)
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    per_person: int = Field(default=1, ge=1, le=100)
    hold_seconds: int = Field(default=7 * 24 * 3600, ge=60, le=366 * 24 * 3600)
    eligibility_service: str | None = Field(
        default=None, max_length=60, description="the service whose connector checks the list"
    )
    eligibility_list: str | None = Field(default=None, max_length=40, examples=["low-income"])
    quotas: list[QuotaIn] = Field(default_factory=list, max_length=50)
    starts_at: dt.datetime
    ends_at: dt.datetime

    @model_validator(mode="after")
    def _consistent(self) -> CampaignCreate:
        if self.benefit_kind == BenefitKind.PERCENT:
            if self.cap_fen is None:
                raise ValueError("a percentage needs `cap_fen`: a claim reserves its cap")
            if self.benefit_value > 10_000:
                raise ValueError("a percentage is at most 10000 basis points")
        elif self.cap_fen is not None:
            raise ValueError("`cap_fen` is for a percentage only")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("`starts_at` and `ends_at` carry their offset")
        if self.ends_at <= self.starts_at:
            raise ValueError("`ends_at` comes after `starts_at`")
        if (self.eligibility_service is None) != (self.eligibility_list is None):
            raise ValueError("`eligibility_service` and `eligibility_list` go together")
        return self


class QuotaRead(BaseModel):
    channel: str
    quota_fen: int
    left_fen: int


class CampaignRead(BaseModel):
    code: str
    city: str
    name: str
    status: CampaignStatus
    currency: str
    budget_fen: int
    left_fen: int
    benefit_kind: BenefitKind
    benefit_value: int
    cap_fen: int | None
    min_amount_fen: int
    applies_to: AppliesTo
    per_person: int
    hold_seconds: int
    eligibility_service: str | None
    eligibility_list: str | None
    quotas: list[QuotaRead]
    starts_at: dt.datetime
    ends_at: dt.datetime
    created_at: dt.datetime
    stopped_at: dt.datetime | None


class ClaimCreate(BaseModel):
    """A channel's user claims the campaign's benefit."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=128)


class ClaimRead(BaseModel):
    id: str
    campaign: str
    status: ClaimStatus
    reserved_fen: int = Field(description="what the claim holds of the budget")
    used_fen: int = Field(description="what it took off the payment it was used on")
    currency: str
    payment_id: str | None
    expires_at: dt.datetime
    created_at: dt.datetime
    used_at: dt.datetime | None


class ChannelFigures(BaseModel):
    channel: str
    claims: int
    claimed_fen: int = Field(description="held by live claims (reserved, applied or used)")
    used: int
    used_fen: int


class CampaignFigures(BaseModel):
    """Claimed, used and left, in all and by channel."""

    campaign: str
    budget_fen: int
    left_fen: int
    claimed_fen: int
    used_fen: int
    claims: int
    used: int
    by_channel: list[ChannelFigures]


class SettlementLine(BaseModel):
    """What the city owes one channel for the subsidies it applied (confirmed payments less
    those given back)."""

    campaign: str
    channel: str
    payments: int
    subsidy_fen: int
    currency: str
