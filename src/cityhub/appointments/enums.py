"""The appointments domain's vocabulary: the states and kinds its tables store and its services
take and answer (imported by other domains and the pages, which import no tables)."""

from __future__ import annotations

import enum


class Period(enum.StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"


class BookingStatus(enum.StrEnum):
    HELD = "held"  # the place is held until the fee is paid or the hold expires
    BOOKED = "booked"  # the place is the patient's
    CHECKED_IN = "checked_in"  # the desk scanned the code
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # the fee was not paid in time, or a waitlist offer not taken
    NO_SHOW = "no_show"  # not checked in by the end of the day
    OFFERED = "offered"  # a freed place offered to the first in line of the waitlist


# Statuses that hold a place (and count against the patient's limits, except an offer).
HOLDS_PLACE = (BookingStatus.HELD, BookingStatus.BOOKED, BookingStatus.OFFERED)


ACTIVE = (BookingStatus.HELD, BookingStatus.BOOKED)


class WaitStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    DONE = "done"  # took a place, let it pass, or left
