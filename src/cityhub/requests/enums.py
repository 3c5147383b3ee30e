"""The requests domain's vocabulary: the states its tables store and its services take and
answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class RequestStatus(enum.StrEnum):
    SUBMITTED = "submitted"  # reported, not yet looked at
    TRIAGED = "triaged"  # accepted by the department, not yet given to someone
    ASSIGNED = "assigned"  # someone works on it
    ON_HOLD = "on_hold"  # waiting (the deadline is paused)
    RESOLVED = "resolved"  # done; the resident may reopen within the window
    CLOSED = "closed"  # done for good
    MERGED = "merged"  # a duplicate of another request


OPEN_STATUSES = (
    RequestStatus.SUBMITTED,
    RequestStatus.TRIAGED,
    RequestStatus.ASSIGNED,
    RequestStatus.ON_HOLD,
)
