"""API shapes of auto-debit agreements and their auto-debits."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from cityhub.autodebit.models import AutoDebitAgreementStatus, AutoDebitStatus
from cityhub.billing.schemas import Currency, Fen, Input, PaymentRead

UserIdField = Field(min_length=1, max_length=128, description="the channel's own user id")


class AutoDebitAgreementCreate(Input):
    user_id: str = UserIdField
    service: str = Field(min_length=1, max_length=60, description="the bill service's code")
    account: str = Field(min_length=1, max_length=80, description="the account whose bills")
    limit_fen: Fen = Field(description="the most the channel may charge for one bill, fee in")
    currency: Currency


class AutoDebitAgreementAction(Input):
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the resident acting through this channel: needed for an agreement made "
        "on another channel where they are linked",
    )


class AutoDebitAgreementRead(BaseModel):
    id: str
    city: str
    service: str
    account: str
    limit_fen: int
    currency: str
    status: AutoDebitAgreementStatus
    channel: str = Field(description="the channel that debits")
    user_id: str | None = Field(description="its user id (only to that channel)")
    consent_id: int
    changed_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    cancelled_at: dt.datetime | None


class AutoDebitRead(BaseModel):
    id: str
    agreement_id: str
    bill_id: str
    amount_fen: int
    total_fen: int
    currency: str
    status: AutoDebitStatus
    debit_at: dt.datetime = Field(description="when the channel is (or was) asked to debit")
    attempts: int
    payment_id: str | None
    answer_by: dt.datetime | None = Field(description="the quote holds until then")
    failure_code: str | None
    failure_detail: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AutoDebitConfirmed(BaseModel):
    auto_debit: AutoDebitRead
    payment: PaymentRead


class AutoDebitFailure(Input):
    code: str = Field(
        min_length=1, max_length=60, pattern=r"^[a-z][a-z0-9_]*$", description="e.g. no_funds"
    )
    detail: str = Field(default="", max_length=400)
