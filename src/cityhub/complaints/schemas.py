"""The complaints' API shapes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cityhub.complaints.models import PAYMENT_TYPES, ComplaintStatus, ComplaintType


class ComplaintCreate(BaseModel):
    """A complaint about one of the channel's payments (`payment_id`) or about a service
    (`type: service`, `service`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: ComplaintType
    payment_id: str | None = Field(
        default=None, max_length=40, description="the payment, pay_... (payment types)"
    )
    service: str | None = Field(
        default=None, max_length=40, description="the service's code (type `service`)"
    )
    user_id: str | None = Field(
        default=None, max_length=80, description="the channel's user (type `service`)"
    )
    description: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_subject(self) -> ComplaintCreate:
        if self.type in PAYMENT_TYPES and (self.payment_id is None or self.service is not None):
            raise ValueError("a complaint about a payment names `payment_id` and no `service`")
        if self.type == ComplaintType.SERVICE and (
            self.service is None or self.payment_id is not None
        ):
            raise ValueError("a complaint about a service names `service` and no `payment_id`")
        return self


class ComplaintDecision(BaseModel):
    """The biller's or the city's answer: the complaint is resolved with this note."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    resolution: str = Field(min_length=1, max_length=1000)


class ComplaintEventRead(BaseModel):
    status: ComplaintStatus
    actor: str
    note: str | None
    at: dt.datetime


class ComplaintRead(BaseModel):
    id: str
    city: str
    type: ComplaintType
    status: ComplaintStatus
    payment_id: str | None
    service: str
    user_id: str | None
    description: str
    assigned_to: str | None = Field(description="`provider:<name>` or `city`, once assigned")
    resolution: str | None
    refund_id: str | None = Field(description="the refund that resolved it, if one did")
    due_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    history: list[ComplaintEventRead]
