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
