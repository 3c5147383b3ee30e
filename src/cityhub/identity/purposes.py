"""Why someone read a resident's personal data, or asked for their consent: a closed set of
codes, each with the words the pages show for it in the reader's language (gettext, in
`templates/portal/_purposes.html`) and an English sentence kept for the API and the audit log.

A purpose's particulars go beside its code (`args`): the service or lottery round concerned,
by code and with its names in the hub's languages (`{"zh-Hans": ..., "zh-Hant": ..., "en":
...}`, as `platform.texts` keeps them), so that the page names them in the reader's language
without looking anything up. A purpose a channel stated in its own words (a consent given
through the API) has no code: the page shows those words, marked with their language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    """The purposes the hub itself records."""

    PROFILE = "profile"  # a channel showed the person their profile
    VERIFICATION = "verification"  # a channel verified the person's identity
    IDENTITY_CHECK = "identity_check"  # the population registry confirmed it
    HISTORY = "history"  # the person read their history
    HISTORY_ITEM = "history_item"  # ... one item of it
    EXPORT = "export"  # ... or downloaded all of their data
    QUERY = "query"  # a record query's answer shown to the person
    QUERY_ANSWER = "query_answer"  # the provider found the records
    LOTTERY_CHECK = "lottery_check"  # a provider checked an applicant's eligibility
    LOTTERY_RECHECK = "lottery_recheck"  # ... and again when the round closed
    SUBSIDY_CHECK = "subsidy_check"  # a provider checked a subsidy claimant's eligibility
    RECORDS = "records"  # consent: look up my own records
    NOTICES = "notices"  # consent: notices and reminders from accounts I follow


def english(purpose: Purpose, args: Mapping[str, Any]) -> str:
    """The purpose as an English sentence (the API's `purpose`, the audit log's details)."""
    service, round_, via = args.get("service", "?"), args.get("round", "?"), args.get("via", "?")
    match purpose:
        case Purpose.PROFILE:
            return "show the user their profile"
        case Purpose.VERIFICATION:
            return "verify the user's identity"
        case Purpose.IDENTITY_CHECK:
            return f"confirmed the identity asked through channel {via}"
        case Purpose.HISTORY:
            return "show the user their history"
        case Purpose.HISTORY_ITEM:
            return "show the user an item of their history"
        case Purpose.EXPORT:
            return "export the user's own data"
        case Purpose.QUERY:
            return f"query {service}: {args.get('records', 0)} record(s) shown to the resident"
        case Purpose.QUERY_ANSWER:
            return f"answered query {service} asked through channel {via}"
        case Purpose.LOTTERY_CHECK:
            return (
                f"checked eligibility for lottery round {round_} "
                f"(application through channel {via})"
            )
        case Purpose.LOTTERY_RECHECK:
            return f"re-checked eligibility for lottery round {round_} at its close"
        case Purpose.SUBSIDY_CHECK:
            return (
                f"checked the list {args.get('list', '?')} for subsidy campaign "
                f"{args.get('campaign', '?')} (claim through {via})"
            )
        case Purpose.RECORDS:
            return "look up my own records"
        case Purpose.NOTICES:
            return "notices and reminders from the government accounts the user follows"


# The English sentences the hub wrote before purposes had codes (migration 0038 reads them).
_OLD = (
    (re.compile(r"^show the user their profile$"), Purpose.PROFILE, ()),
    (re.compile(r"^(show the user their|the resident read their) history$"), Purpose.HISTORY, ()),
    (
        re.compile(r"^(show the user|the resident read) an item of their history$"),
        Purpose.HISTORY_ITEM,
        (),
    ),
    (
        re.compile(r"^(export the user's|the resident downloaded their) own data$"),
        Purpose.EXPORT,
        (),
    ),
    (re.compile(r"^query (\S+): (\d+) record"), Purpose.QUERY, ("service", "records")),
    (re.compile(r"^answered query (\S+) asked through channel (\S+)"), Purpose.QUERY_ANSWER,
     ("service", "via")),
    (re.compile(r"^checked eligibility for lottery round (\S+) \(application through channel "
                r"(\S+)\)"), Purpose.LOTTERY_CHECK, ("round", "via")),
    (re.compile(r"^re-checked eligibility for lottery round (\S+) at its close"),
     Purpose.LOTTERY_RECHECK, ("round",)),
    (re.compile(r"^confirmed the identity asked through channel (\S+)"), Purpose.IDENTITY_CHECK,
     ("via",)),
)  # fmt: skip


def from_text(purpose: str, fields: str) -> tuple[Purpose | None, dict[str, Any]]:
    """The code (and particulars) of an access noted as an English sentence, if the hub wrote
    it; None for words a channel stated (a verification's purpose)."""
    for pattern, code, names in _OLD:
        found = pattern.match(purpose)
        if found:
            values = dict(zip(names, found.groups()[-len(names) :] if names else (), strict=True))
            if "records" in values:
                values["records"] = int(values["records"])
            return code, values
    if fields == "name, id_number (verification)":
        return Purpose.VERIFICATION, {}
    return None, {}
