"""The cities domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class CityStatus(enum.StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class ServiceKind(enum.StrEnum):
    BILL = "bill"
    APPOINTMENT = "appointment"
    QUERY = "query"
    LOTTERY = "lottery"
    NOTICE = "notice"
    REQUEST = "request"
    IDENTITY = "identity"  # the city's population registry: confirms names and numbers


class ServiceStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    RETIRED = "retired"
