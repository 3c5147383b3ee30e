"""The identity domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OPERATOR = "operator"  # runs the hub: every city
    CITY_ADMIN = "city_admin"
    PROVIDER_STAFF = "provider_staff"
    AUDITOR = "auditor"


class ChannelStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class IdentityLevel(enum.StrEnum):
    """How sure the hub is of who a resident is (ordered: each level includes the ones before)."""

    NONE = "none"
    CHANNEL_ASSERTED = "channel_asserted"  # a channel vouched for its own real-name check
    AUTHORITY_CHECKED = "authority_checked"  # a population registry confirmed name and number

    @property
    def rank(self) -> int:
        return list(IdentityLevel).index(self)


class LinkProof(enum.StrEnum):
    """How a channel's user came to stand for its resident."""

    OWN = "own"  # the record was created for this user
    SMS_CODE = "sms_code"  # a code sent to the phone on the person's record came back
    CHANNEL_CONFIRMATION = "channel_confirmation"  # a channel already linked confirmed it
    LEGACY = "legacy"  # linked before proof was asked for: name and number only


class LinkStatus(enum.StrEnum):
    PENDING = "pending"
    LINKED = "linked"
    EXPIRED = "expired"
