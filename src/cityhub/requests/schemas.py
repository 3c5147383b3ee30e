"""API shapes of service requests: settings, departments, request types, reports, steps."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.requests.models import RequestStatus

LANGS = ("zh-Hans", "zh-Hant", "en")
Code = Field(min_length=1, max_length=60, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
# The path parameters of the requests API (the channels' routes and the staff's alike).
CitySlug = Annotated[str, Path(max_length=40, description="the city's slug")]
TypeCode = Annotated[str, Path(max_length=60, description="the request type's code")]
RequestId = Annotated[str, Path(max_length=24, description="the request's number")]


class Texts(BaseModel):
    """A text in each language the hub speaks."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    zh_hans: str = Field(alias="zh-Hans", min_length=1, max_length=400)
    zh_hant: str = Field(alias="zh-Hant", min_length=1, max_length=400)
    en: str = Field(min_length=1, max_length=400)

    def of(self, lang: str) -> str:
        """The text in a language (English for one the hub does not speak)."""
        return {"zh-Hans": self.zh_hans, "zh-Hant": self.zh_hant}.get(lang, self.en)


class AttributeValue(BaseModel):
    """One choice of a list attribute."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=60)
    names: Texts


class Attribute(BaseModel):
    """An Open311 attribute a request type asks."""

    model_config = ConfigDict(extra="forbid")

    code: str = Code
    datatype: Datatype
    required: bool = False
    order: int = Field(default=0, ge=0, le=1000)
    descriptions: Texts
    values: list[AttributeValue] = Field(default_factory=list, max_length=100)

    @field_validator("values")
    @classmethod
    def _unique_keys(cls, values: list[AttributeValue]) -> list[AttributeValue]:
        keys = [v.key for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError("value keys must be unique")
        return values


class DepartmentCreate(BaseModel):
    """A department that handles requests; `head` is a staff username."""

    model_config = ConfigDict(extra="forbid")

    code: str = Code
    names: Texts
    head: str | None = Field(default=None, max_length=80)


class DepartmentRead(BaseModel):
    code: str
    names: dict[str, str]
    head: str | None
    members: list[str]


class MemberCreate(BaseModel):
    """A staff member who handles the department's requests."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=80)


class RequestTypeCreate(BaseModel):
    """A request type (an Open311 service) of a city."""

    model_config = ConfigDict(extra="forbid")

    code: str = Code
    group: str = Field(min_length=1, max_length=60)
    keywords: list[str] = Field(default_factory=list, max_length=20)
    names: Texts
    descriptions: Texts
    department: str = Field(min_length=1, max_length=60)
    sla_hours: int = Field(ge=1, le=2000, description="deadline in working hours")
    attributes: list[Attribute] = Field(default_factory=list, max_length=30)
    position: int = Field(default=0, ge=0, le=10000)

    @field_validator("attributes")
    @classmethod
    def _unique_codes(cls, attributes: list[Attribute]) -> list[Attribute]:
        codes = [a.code for a in attributes]
        if len(set(codes)) != len(codes):
            raise ValueError("attribute codes must be unique")
        for a in attributes:
            if a.datatype.endswith("valuelist") and not a.values:
                raise ValueError(f"attribute {a.code!r} is a list and needs values")
        return attributes


class RequestTypeUpdate(BaseModel):
    """Changes to a request type (what is left out stays)."""

    model_config = ConfigDict(extra="forbid")

    group: str | None = Field(default=None, min_length=1, max_length=60)
    keywords: list[str] | None = Field(default=None, max_length=20)
    names: Texts | None = None
    descriptions: Texts | None = None
    department: str | None = Field(default=None, min_length=1, max_length=60)
    sla_hours: int | None = Field(default=None, ge=1, le=2000)
    attributes: list[Attribute] | None = Field(default=None, max_length=30)
    active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10000)


class RequestTypeRead(BaseModel):
    code: str
    group: str
    keywords: list[str]
    names: dict[str, str]
    descriptions: dict[str, str]
    department: str
    sla_hours: int
    attributes: list[dict[str, Any]]
    active: bool


class Area(BaseModel):
    """A box of latitude and longitude."""

    model_config = ConfigDict(extra="forbid")

    south: float = Field(ge=-90, le=90)
    west: float = Field(ge=-180, le=180)
    north: float = Field(ge=-90, le=90)
    east: float = Field(ge=-180, le=180)

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east


class District(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Code
    names: Texts
    area: Area


class RequestSettingsUpdate(BaseModel):
    """A city's calendar, area and rules for requests (what is left out stays)."""

    model_config = ConfigDict(extra="forbid")

    workdays: list[int] | None = Field(default=None, max_length=7)
    periods: list[list[str]] | None = Field(default=None, max_length=6)
    holidays: list[str] | None = Field(default=None, max_length=400)
    extra_workdays: list[str] | None = Field(default=None, max_length=100)
    area: Area | None = None
    districts: list[District] | None = Field(default=None, max_length=100)
    triage_hours: int | None = Field(default=None, ge=1, le=200)
    reopen_days: int | None = Field(default=None, ge=0, le=90)
    publish_open: bool | None = None


class RequestSettingsRead(BaseModel):
    workdays: list[int]
    periods: list[list[str]]
    holidays: list[str]
    extra_workdays: list[str]
    area: dict[str, Any]
    districts: list[dict[str, Any]]
    triage_hours: int
    reopen_days: int
    publish_open: bool


class ReportCreate(BaseModel):
    """A problem reported by a channel for its user (or anonymously, without `user_id`)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=60, description="the request type's code")
    description: str = Field(min_length=1, max_length=4000)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, min_length=1, max_length=300)
    attributes: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    share_location: bool = Field(
        default=False, description="keep the photos' location metadata (stripped otherwise)"
    )
    same_as: str | None = Field(
        default=None,
        max_length=24,
        description="the open request this report is the same problem as: follow it instead",
    )


class PhotoRead(BaseModel):
    id: str
    content_type: str
    size: int
    url: str


class EventRead(BaseModel):
    kind: str
    status: str
    note: str | None
    public: bool
    actor: str
    at: dt.datetime


class RequestRead(BaseModel):
    id: str
    city: str
    type: str
    department: str
    status: RequestStatus
    description: str
    lat: float | None
    lon: float | None
    address: str | None
    district: str | None
    attributes: dict[str, Any]
    photos: list[PhotoRead]
    triage_due_at: dt.datetime
    due_at: dt.datetime
    escalated: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    reopened: int
    rating: int | None
    merged_into: str | None = None
    timeline: list[EventRead] = Field(default_factory=list)


class NearbyRead(BaseModel):
    id: str
    type: str
    status: RequestStatus
    description: str
    distance_m: int
    created_at: dt.datetime


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    public: bool = False


class AssignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assignee: str = Field(min_length=1, max_length=80, description="a staff username")


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=60)
    note: str = Field(min_length=1, max_length=4000)


class ReasonCreate(BaseModel):
    """A step that needs a reason said (hold, resolve, close, reopen, merge)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=24)


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


class ResidentAction(BaseModel):
    """What a channel's user does to their own request."""

    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=128)
    note: str | None = Field(default=None, max_length=4000)
    rating: int | None = Field(default=None, ge=1, le=5)


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: str = Field(min_length=1, max_length=60, description="the channel's slug")


class ApiKeyRead(BaseModel):
    channel: str
    api_key: str
    prefix: str
