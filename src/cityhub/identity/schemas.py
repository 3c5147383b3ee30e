"""API shapes of tokens, staff, channels, residents, consent and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cityhub.cities.schemas import Input
from cityhub.identity.audit import AuditEntry
from cityhub.identity.models import (
    Channel,
    Consent,
    DataAccess,
    IdentityLevel,
    LinkRequest,
    LinkStatus,
    StaffRole,
)
from cityhub.identity.pii import normalize_id_number, normalize_phone
from cityhub.identity.residents import CONSENT_SCOPES

USER_ID = r"^[A-Za-z0-9._:@-]{1,128}$"


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str
    mode: str = Field(
        default="live",
        description="`test`: sandbox credentials, whose calls reach only the simulators",
    )


class StaffLogin(Input):
    # The password is taken exactly as typed (as the console's form does): stripping it would
    # lock out anyone whose password begins or ends with a space.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, populate_by_name=True)

    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    password: str = Field(min_length=1, max_length=200)


class RoleRead(BaseModel):
    city: str | None
    role: str
    provider: str | None = None


class StaffRead(BaseModel):
    username: str
    display_name: str
    roles: list[RoleRead]


class StaffSessionRead(BaseModel):
    staff: StaffRead
    csrf_token: str
    expires_at: dt.datetime
    password_change_required: bool = Field(
        default=False, description="true: nothing but POST /v1/staff/me/password until then"
    )


def staff_read(
    username: str, display_name: str, roles: list[tuple[StaffRole, str | None]]
) -> StaffRead:
    """A staff member with their roles and the slugs of the roles' cities."""
    return StaffRead(
        username=username,
        display_name=display_name,
        roles=[RoleRead(city=slug, role=r.role.value, provider=r.provider) for r, slug in roles],
    )


class ChannelRead(BaseModel):
    slug: str
    name: str
    names: dict[str, str] = Field(default_factory=dict, description="translations of the name")
    kind: str
    client_id: str
    scopes: list[str]
    status: str
    cities: list[str]
    mode: str = "live"

    @classmethod
    def of(cls, channel: Channel, cities: list[str]) -> ChannelRead:
        return cls(
            slug=channel.slug,
            name=channel.name,
            names=channel.names,
            kind=channel.kind,
            client_id=channel.client_id,
            scopes=channel.scopes.split(),
            status=channel.status.value,
            cities=cities,
            mode=channel.mode,
        )


class ResidentCreate(Input):
    user_id: str = Field(pattern=USER_ID, description="the channel's own id for its user")
    phone: str | None = Field(default=None, description="mainland mobile number")

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value is not None else None


class LinkRead(BaseModel):
    """A request to be linked to a person the hub already knows, waiting for proof."""

    id: int
    status: str = Field(description="pending | linked | expired")
    method: str = Field(
        description="sms_code: enter the code sent to `phone`, the phone on the person's "
        "record; channel_confirmation: only a channel where the person is linked can confirm"
    )
    phone: str | None = Field(description="masked: where the code went")
    expires_at: dt.datetime
    demo_code: str | None = Field(
        default=None, description="the code itself, in a demo hub only (as sign-in codes are)"
    )

    @classmethod
    def of(cls, row: LinkRequest, demo_code: str | None = None) -> LinkRead:
        return cls(
            id=row.id,
            status=LinkStatus(row.status).value,
            method="sms_code" if row.code_hash else "channel_confirmation",
            phone=row.phone_masked,
            expires_at=row.expires_at,
            demo_code=demo_code,
        )


class PendingLinkRead(BaseModel):
    """Another channel's request to be linked to this channel's user (for them to confirm)."""

    id: int
    channel: str = Field(description="the name of the channel asking")
    created_at: dt.datetime
    expires_at: dt.datetime


class ResidentRead(BaseModel):
    user_id: str
    verified: bool = Field(description="identity_level is not none")
    identity_level: IdentityLevel = Field(
        description="none | channel_asserted (a channel vouched) | authority_checked (a "
        "population registry confirmed the name and number)"
    )
    name: str | None = Field(description="masked")
    phone: str | None = Field(description="masked")
    id_number: str | None = Field(description="masked")
    created_at: dt.datetime
    link: LinkRead | None = Field(
        default=None,
        description="set when the number belongs to a person the hub already knows: the user "
        "stays a separate, unlinked resident until the link is proven",
    )


class VerificationCreate(Input):
    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(description="18-character mainland identity number")
    purpose: str = Field(
        min_length=4, max_length=400, description="why the channel verifies (shown to the person)"
    )
    city: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="the city whose population registry checks the name and number "
        "(identity level authority_checked); without it the channel vouches for its own "
        "real-name check (channel_asserted)",
    )
    liveness_token: str | None = Field(
        default=None,
        min_length=1,
        max_length=80,
        description="a liveness (face-check) token the channel obtained, for the registry to check",
    )

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        return normalize_id_number(value)


class LinkCodeCreate(Input):
    code: str = Field(pattern=r"^[0-9]{6}$", description="the six digits sent to the phone")


class ConsentCreate(Input):
    scope: str = Field(description="one of: " + ", ".join(CONSENT_SCOPES))
    purpose: str = Field(min_length=4, max_length=400)

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        if value not in CONSENT_SCOPES:
            raise ValueError("scope must be one of " + ", ".join(CONSENT_SCOPES))
        return value


class ConsentRead(BaseModel):
    id: int
    scope: str
    purpose: str
    purpose_code: str | None = Field(
        default=None,
        description="the hub's code for the purpose (profile, verification, identity_check, "
        "history, history_item, export, query, query_answer, lottery_check, lottery_recheck, "
        "records, notices), to show it in the user's language; none when the purpose is the "
        "channel's own words",
    )
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None

    @classmethod
    def of(cls, consent: Consent) -> ConsentRead:
        return cls(
            id=consent.id,
            scope=consent.scope,
            purpose=consent.purpose,
            purpose_code=consent.purpose_code,
            granted_at=consent.granted_at,
            withdrawn_at=consent.withdrawn_at,
        )


class DataAccessRead(BaseModel):
    at: dt.datetime
    actor_type: str
    actor: str
    purpose: str
    purpose_code: str | None = Field(
        default=None,
        description="the hub's code for the purpose (profile, verification, identity_check, "
        "history, history_item, export, query, query_answer, lottery_check, lottery_recheck, "
        "records, notices), to show it in the user's language; none when the purpose is the "
        "channel's own words",
    )
    purpose_args: dict[str, Any] = Field(
        default_factory=dict,
        description="the purpose's particulars: service, round and via (the channel asked "
        "through) by code, and their names in the hub's languages (service_names, "
        "round_titles, via_names), records (how many were shown)",
    )
    fields: str

    @classmethod
    def of(cls, access: DataAccess) -> DataAccessRead:
        return cls(
            at=access.at,
            actor_type=access.actor_type,
            actor=access.actor_name,
            purpose=access.purpose,
            purpose_code=access.purpose_code,
            purpose_args=access.purpose_args,
            fields=access.fields,
        )


class AuditRead(BaseModel):
    id: int
    chain: str
    seq: int
    at: dt.datetime
    actor_type: str
    actor_id: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRead:
        return cls.model_validate(entry, from_attributes=True)
