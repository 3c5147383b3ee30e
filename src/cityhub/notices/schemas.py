"""API shapes of government accounts, topics, templates, notices, inboxes and follows."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from cityhub.cities.schemas import SLUG, Input
from cityhub.notices.render import LANGUAGES, TYPES
from cityhub.platform.texts import NameTexts

CODE = SLUG.replace("39", "59")
Language = Literal["zh-Hans", "zh-Hant", "en"]


class AccountCreate(Input):
    code: str = Field(pattern=CODE, description="unique in the city")
    name: str = Field(min_length=1, max_length=120)
    agency: str = Field(min_length=1, max_length=120)
    names: NameTexts | None = None
    agency_names: NameTexts | None = None
    service: str | None = Field(
        default=None, max_length=60, description="the bill service this account speaks for"
    )


class TopicRead(BaseModel):
    code: str
    name: str
    names: dict[str, str] = Field(default_factory=dict, description="translations of the name")


class AccountRead(BaseModel):
    city: str
    code: str
    name: str
    agency: str
    names: dict[str, str] = Field(default_factory=dict, description="translations of the name")
    agency_names: dict[str, str] = Field(default_factory=dict)
    service: str | None
    topics: list[TopicRead]
    followers: int | None = Field(default=None, description="staff only")


class TopicCreate(Input):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=120)
    names: NameTexts | None = None


class Texts(Input):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=2000)


class TemplateCreate(Input):
    code: str = Field(pattern=CODE)
    placeholders: dict[str, str] = Field(
        default_factory=dict, description=f"name -> type ({', '.join(TYPES)})", max_length=30
    )
    texts: dict[Language, Texts] = Field(min_length=1, description="per language")


class TemplateRead(BaseModel):
    account: str
    code: str
    placeholders: dict[str, str]
    texts: dict[str, Texts]


class PreviewCreate(Input):
    values: dict[str, Any] = Field(default_factory=dict)


class Rendered(BaseModel):
    title: str
    body: str


class PreviewRead(BaseModel):
    texts: dict[str, Rendered]


class Audience(Input):
    """Residents with an account at a biller (in a district, if given)."""

    service: str = Field(max_length=60)
    district: str | None = Field(default=None, max_length=60)


class NoticeCreate(Input):
    account: str = Field(max_length=60)
    template: str = Field(max_length=60)
    values: dict[str, Any] = Field(default_factory=dict)
    kind: Literal["broadcast", "targeted"] = "broadcast"
    topic: str | None = Field(default=None, max_length=60, description="broadcast to a topic")
    audience: Audience | None = Field(default=None, description="targeted notices")
    urgent: bool = Field(default=False, description="bypasses quiet hours and the daily cap")
    ref: str | None = Field(
        default=None,
        max_length=160,
        pattern=r"^[a-z]+:[A-Za-z0-9._:-]+$",
        description="what acting on it means, e.g. bill:water:B-1 (conversion)",
    )
    link: str | None = Field(default=None, max_length=400, pattern=r"^https?://")

    @model_validator(mode="after")
    def _shape(self) -> NoticeCreate:
        if self.kind == "targeted" and self.audience is None:
            raise ValueError("a targeted notice needs an audience")
        if self.kind == "broadcast" and self.audience is not None:
            raise ValueError("a broadcast goes to followers: leave audience out")
        if self.kind == "targeted" and self.topic is not None:
            raise ValueError("a targeted notice has no topic")
        return self


class NoticeStats(BaseModel):
    recipients: int = Field(description="inboxes it reached")
    delivered: int = Field(description="pushed on a channel, SMS or email")
    opened: int
    acted: int
    amount_fen: int = Field(description="paid on the referenced bill after opening")
    failed: int = Field(description="recipients whose every route failed (dead letters)")
    capped: int = Field(description="not pushed: quiet hours over, but the daily cap reached")


class NoticeRead(BaseModel):
    id: str
    city: str
    account: str
    kind: str
    urgent: bool
    template: str
    texts: dict[str, Rendered]
    audience: dict[str, Any]
    ref: str | None
    link: str | None
    status: str
    created_at: dt.datetime
    stats: NoticeStats | None = None


class DeliveryRead(BaseModel):
    id: int
    notice: str
    recipient: int
    route: str
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime


class SettingsUpdate(Input):
    quiet_start: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    quiet_end: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    daily_cap: int | None = Field(default=None, ge=0, le=100)
    conversion_days: int | None = Field(default=None, ge=1, le=90)


class SettingsRead(BaseModel):
    city: str
    timezone: str
    quiet_start: str
    quiet_end: str
    daily_cap: int
    conversion_days: int


# -- channels ------------------------------------------------------------------------------


class FollowCreate(Input):
    city: str = Field(max_length=40)
    account: str = Field(max_length=60)
    topic: str | None = Field(default=None, max_length=60)


class FollowRead(BaseModel):
    id: int
    city: str
    account: str
    topic: str | None
    created_at: dt.datetime


class InboxItem(BaseModel):
    id: int = Field(description="the inbox entry")
    notice: str
    city: str
    account: str
    title: str
    body: str
    urgent: bool
    link: str | None
    tracking: str = Field(description="send it back when the resident opens the notice")
    created_at: dt.datetime
    read_at: dt.datetime | None


class PreferencesUpdate(Input):
    prefer_this_channel: bool | None = None
    language: Language | None = None
    email: str | None = Field(
        default=None, max_length=120, pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
    )
    sms: bool | None = None
    email_notices: bool | None = None


class PreferencesRead(BaseModel):
    preferred_channel: str | None
    language: str
    email: str | None = Field(description="masked")
    phone: str | None = Field(description="masked")
    sms: bool
    email_notices: bool


class BillerAccountCreate(Input):
    city: str = Field(max_length=40)
    service: str = Field(max_length=60)
    account: str = Field(min_length=1, max_length=80)
    district: str = Field(default="", max_length=60)


class BillerAccountRead(BaseModel):
    id: int
    city: str
    service: str
    account: str
    district: str


class OpenRead(BaseModel):
    notice: str
    opened_at: dt.datetime
    link: str | None


def _lang(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    return value
