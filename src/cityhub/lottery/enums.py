"""The lottery domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class RoundStatus(enum.StrEnum):
    OPEN = "open"  # created; applications between opens_at and closes_at
    CLOSED = "closed"  # the applicant list and its hash are published
    DRAWN = "drawn"  # the secret and the public value are in, the scores computed
    PUBLISHED = "published"  # the results are public


class ApplicationStatus(enum.StrEnum):
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"
    EXCLUDED = "excluded"  # found ineligible when the round closed
    WON = "won"
    LOST = "lost"
