"""API shapes of cities, categories, services and grants."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.cities.models import (
    City,
    CityStatus,
    Grant,
    Service,
    ServiceCategory,
    ServiceKind,
    ServiceStatus,
    required_level,
)
from cityhub.identity.enums import IdentityLevel
from cityhub.platform.texts import NameTexts

if TYPE_CHECKING:
    from sqlalchemy import Row

    from cityhub.identity.models import Channel

SLUG = r"^[a-z][a-z0-9-]{1,39}$"


class Input(BaseModel):
    """Inputs refuse fields they do not know, so nothing is silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)


class Update(Input):
    """Inputs that change some fields: a field left out stays as it is; a field sent as null
    is refused (it would blank a required column, or mean "unset" where nothing can be)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out to keep it; it cannot be null")
        return value


class Names(Input):
    """A name in the three languages the hub speaks."""

    zh_hans: str = Field(alias="zh-Hans", min_length=1, max_length=80)
    zh_hant: str = Field(alias="zh-Hant", min_length=1, max_length=80)
    en: str = Field(min_length=1, max_length=80)

    def columns(self) -> dict[str, str]:
        """The names as table columns."""
        return {"name_zh_hans": self.zh_hans, "name_zh_hant": self.zh_hant, "name_en": self.en}

    @classmethod
    def of(cls, row: City | Service | ServiceCategory) -> Names:
        """The names of a row."""
        return cls(**{"zh-Hans": row.name_zh_hans, "zh-Hant": row.name_zh_hant, "en": row.name_en})


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)"
        ) from None
    return value


class CityCreate(Input):
    slug: str = Field(pattern=SLUG)
    names: Names
    timezone: str = "Asia/Shanghai"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")

    _tz = field_validator("timezone")(_timezone)

    def columns(self) -> dict[str, Any]:
        """The city's table columns."""
        return {
            "slug": self.slug,
            "timezone": self.timezone,
            "currency": self.currency,
            **self.names.columns(),
        }


class CityUpdate(Update):
    names: Names | None = None
    timezone: str | None = None
    status: CityStatus | None = None

    _tz = field_validator("timezone")(_timezone)


class CityRead(BaseModel):
    slug: str
    names: Names
    timezone: str
    currency: str
    status: CityStatus

    @classmethod
    def of(cls, city: City) -> CityRead:
        return cls(
            slug=city.slug,
            names=Names.of(city),
            timezone=city.timezone,
            currency=city.currency,
            status=city.status,
        )


class CategoryCreate(Input):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    names: Names
    position: int = Field(default=100, ge=0, le=10_000, description="display order")


class CategoryUpdate(Update):
    names: Names | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    active: bool | None = Field(default=None, description="false: no new services in it")


class CategoryRead(BaseModel):
    code: str
    names: Names
    position: int
    active: bool

    @classmethod
    def of(cls, category: ServiceCategory) -> CategoryRead:
        return cls(
            code=category.code,
            names=Names.of(category),
            position=category.position,
            active=category.active,
        )


class ServiceCreate(Input):
    code: str = Field(pattern=SLUG.replace("39", "59"))
    category: str = Field(min_length=1, max_length=40)
    kind: ServiceKind
    names: Names
    provider: str = Field(min_length=1, max_length=120)
    provider_names: NameTexts | None = None
    connector: str = Field(min_length=1, max_length=120)
    connector_config: dict[str, Any] = Field(default_factory=dict)
    identity_level: IdentityLevel | None = Field(
        default=None,
        description="the identity level a resident needs (default: lotteries and personal "
        "queries `authority_checked`, appointments `channel_asserted`, others `none`)",
    )


class ServiceUpdate(Update):
    category: str | None = Field(default=None, min_length=1, max_length=40)
    names: Names | None = None
    provider: str | None = Field(default=None, min_length=1, max_length=120)
    provider_names: NameTexts | None = None
    connector: str | None = Field(default=None, min_length=1, max_length=120)
    connector_config: dict[str, Any] | None = None
    status: ServiceStatus | None = None
    identity_level: IdentityLevel | None = None


class ServiceRead(BaseModel):
    code: str
    city: str
    category: str
    kind: ServiceKind
    names: Names
    provider: str
    provider_names: dict[str, str] = Field(
        default_factory=dict, description="translations of the provider's name"
    )
    status: ServiceStatus
    identity_level: IdentityLevel = Field(description="the identity level a resident needs")

    @classmethod
    def of(cls, service: Service, city: City) -> ServiceRead:
        return cls(
            code=service.code,
            city=city.slug,
            category=service.category_code,
            kind=service.kind,
            names=Names.of(service),
            provider=service.provider,
            provider_names=service.provider_names,
            status=service.status,
            identity_level=service.required_level,
        )

    @staticmethod
    def dump_row(row: Row[Any], city_slug: str) -> dict[str, Any]:
        """What `of(...).model_dump(mode="json", by_alias=True)` answers, straight from a row
        of `queries.CATALOGUE_COLUMNS` (columns the model's types already hold)."""
        return {
            "code": row.code,
            "city": city_slug,
            "category": row.category_code,
            "kind": ServiceKind(row.kind).value,
            "names": {"zh-Hans": row.name_zh_hans, "zh-Hant": row.name_zh_hant, "en": row.name_en},
            "provider": row.provider,
            "provider_names": row.provider_names,
            "status": ServiceStatus(row.status).value,
            "identity_level": required_level(row.kind, row.identity_level).value,
        }


class ServiceAdminRead(ServiceRead):
    """What staff see of a service: also how it is connected."""

    connector: str
    connector_config: dict[str, Any]

    @classmethod
    def of(cls, service: Service, city: City) -> ServiceAdminRead:
        base = ServiceRead.of(service, city).model_dump()
        return cls(**base, connector=service.connector, connector_config=service.connector_config)


class GrantCreate(Input):
    channel: str = Field(min_length=1, max_length=40, description="the channel's slug")
    service: str = Field(min_length=1, max_length=60, description="the service's code")


class GrantRead(BaseModel):
    id: int
    city: str
    channel: str
    service: str
    created_at: dt.datetime

    @classmethod
    def of(cls, grant: Grant, city: City, channel: Channel, service: Service) -> GrantRead:
        return cls(
            id=grant.id,
            city=city.slug,
            channel=channel.slug,
            service=service.code,
            created_at=grant.created_at,
        )
