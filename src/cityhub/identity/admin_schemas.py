"""API shapes of managing staff and channels."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cityhub.cities.schemas import SLUG, Input, Update
from cityhub.identity.models import ChannelStatus, Role
from cityhub.identity.schemas import ChannelRead, RoleRead
from cityhub.platform.texts import NameTexts

USERNAME = r"^[a-z0-9][a-z0-9._-]{1,79}$"
Password = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class RoleIn(Input):
    city: str | None = Field(default=None, max_length=40, description="none: the operator role")
    role: Role
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=120,
        description="provider_staff only: the provider (a service's `provider`) they work for",
    )


class StaffCreate(Input):
    username: str = Field(pattern=USERNAME)
    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    password: Password | None = Field(
        default=None, description="none: a temporary one is answered, to change at first sign-in"
    )
    roles: list[RoleIn] = Field(min_length=1, max_length=50)


class StaffUpdate(Update):
    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    active: bool | None = Field(default=None, description="false: the account is disabled")


class StaffAdminRead(BaseModel):
    username: str
    display_name: str
    active: bool
    must_change_password: bool
    roles: list[RoleRead]
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class StaffCreated(StaffAdminRead):
    temporary_password: str | None = Field(description="shown once; changed at first sign-in")


class PasswordReset(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    password: Password | None = Field(default=None, description="none: a temporary one")


class PasswordResetRead(BaseModel):
    username: str
    temporary_password: str = Field(description="shown once; changed at the next sign-in")


class PasswordChange(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    current: Password
    new: Password


class ChannelCreate(Input):
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=120)
    names: NameTexts | None = None
    scopes: list[str] = Field(min_length=1, max_length=20)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://", max_length=400)


class ChannelUpdate(Update):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    names: NameTexts | None = None
    scopes: list[str] | None = Field(default=None, min_length=1, max_length=20)
    status: ChannelStatus | None = None
    webhook_url: str | None = Field(
        default=None, pattern=r"^(https?://.*)?$", max_length=400, description="empty: none"
    )


class ChannelCreated(ChannelRead):
    client_secret: str = Field(description="shown once")
    webhook_secret: str = Field(description="shown once: checks the webhooks' signatures")
