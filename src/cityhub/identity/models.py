"""Staff, channels, residents, consent and the record of personal-data access."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.identity.enums import (
    ChannelStatus as ChannelStatus,
    IdentityLevel as IdentityLevel,
    LinkProof as LinkProof,
    LinkStatus as LinkStatus,
    Role as Role,
)

# isort: on
from cityhub.platform.db import Base, BigId, str_enum, utcnow


class StaffUser(Base):
    """A person who signs in to the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    # Set when an admin resets the password: the console and the API let the member do
    # nothing but choose a new one until they have.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class StaffRole(Base):
    """A role a staff member holds in one city (`city_id` is empty for the operator role)."""

    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "city_id", "role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id", ondelete="CASCADE"))
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"))
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"))
    # For provider_staff: the provider (a service's `provider`) the member works for; they act
    # on that provider's objects only. Empty for other roles, and for a provider_staff role
    # not yet bound (such a member acts on no provider's objects).
    provider: Mapped[str | None] = mapped_column(String(120), default=None)


class StaffSession(Base):
    """A console session: the cookie holds the token, only its hash is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(BigId, ForeignKey("staff_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()


class Channel(Base):
    """A partner platform that offers city services to its own users."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations of `name`
    kind: Mapped[str] = mapped_column(String(20), default="partner")  # partner | portal
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(400))
    webhook_url: Mapped[str | None] = mapped_column(String(400), default=None)
    webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    status: Mapped[ChannelStatus] = mapped_column(str_enum(ChannelStatus, "channel_status"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # A rotated secret keeps working until the end of its overlap window (then it is revoked):
    # the old client secret's hash, the old webhook secret encrypted, and when each stops.
    old_secret_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    old_secret_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    old_webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    old_webhook_secret_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    # Deep links into the channel's app, one template per service kind ({"bill": "...{id}"}).
    link_templates: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # `test`: sandbox credentials (identity/sandbox.py) of the live channel `live_channel_id`;
    # their traffic reaches only the simulators and their rows are the sandbox's.
    mode: Mapped[str] = mapped_column(String(10), default="live", server_default="live")
    live_channel_id: Mapped[int | None] = mapped_column(BigId, index=True, default=None)


class Resident(Base):
    """A person. Hub-wide, not per city: one person uses services in many cities.

    Identity and phone numbers are stored encrypted and found by a keyed hash.
    """

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    id_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    id_number_masked: Mapped[str | None] = mapped_column(String(24), default=None)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    phone_masked: Mapped[str | None] = mapped_column(String(24), default=None)
    verified_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    identity_level: Mapped[IdentityLevel] = mapped_column(
        str_enum(IdentityLevel, "identity_level"),
        default=IdentityLevel.NONE,
        server_default=IdentityLevel.NONE.value,
    )
    # Who raised the level: the channel that vouched, or the registry that answered.
    identity_checked_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def level(self) -> IdentityLevel:
        """The identity level (read back as the enum whatever the driver gave)."""
        return IdentityLevel(self.identity_level)


class ChannelUser(Base):
    """A channel's own user id, linked to the resident it stands for."""

    __tablename__ = "channel_users"
    __table_args__ = (UniqueConstraint("channel_id", "channel_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"), index=True)
    link_proof: Mapped[LinkProof] = mapped_column(
        str_enum(LinkProof, "link_proof"), default=LinkProof.OWN, server_default=LinkProof.OWN
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LinkRequest(Base):
    """A channel's user asks to be linked to a person the hub already knows.

    Knowing the person's name and number is not enough: the link is made when the code sent
    to the phone on the person's record comes back (`code_hash`, `attempts_left`,
    `expires_at`), or when a channel where the person is already linked confirms it.
    """

    __tablename__ = "resident_link_requests"
    __table_args__ = (Index("ix_resident_link_requests_target", "target_resident_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    channel_user_id: Mapped[str] = mapped_column(String(128))
    # The caller's own (unlinked) record, and the person it asks to be linked to.
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    target_resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    # Empty when the person's record has no phone: only a channel's confirmation can link.
    code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    phone_masked: Mapped[str | None] = mapped_column(String(24), default=None)
    attempts_left: Mapped[int] = mapped_column(default=0)
    status: Mapped[LinkStatus] = mapped_column(str_enum(LinkStatus, "link_status"))
    proof: Mapped[LinkProof | None] = mapped_column(str_enum(LinkProof, "link_proof"), default=None)
    confirmed_by_channel_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("channels.id"), default=None
    )
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Consent(Base):
    """What a resident let a channel see, for what purpose; withdrawable."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_resident", "resident_id", "channel_id", "scope"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    scope: Mapped[str] = mapped_column(String(60))
    purpose: Mapped[str] = mapped_column(String(400))
    # The hub's own purposes have a code (identity.purposes); a channel's own words have none.
    purpose_code: Mapped[str | None] = mapped_column(String(40), default=None)
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class DataAccess(Base):
    """One access to a resident's personal data, listed to that resident."""

    __tablename__ = "data_access"
    __table_args__ = (Index("ix_data_access_resident", "resident_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    city_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cities.id"), default=None)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(20))  # staff | channel | provider
    actor_id: Mapped[str] = mapped_column(String(80))
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations
    purpose: Mapped[str] = mapped_column(String(400))  # in English (or a channel's words)
    purpose_code: Mapped[str | None] = mapped_column(String(40), default=None)
    purpose_args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fields: Mapped[str] = mapped_column(String(200))
