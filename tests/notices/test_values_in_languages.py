"""A notice's values in the recipient's language: a text value given in the hub's languages
is rendered in each, and the hub's own notices pass names and statuses so, not a code."""

from __future__ import annotations

import pytest

from cityhub.notices.builtin import REQUEST_STATUS_WORDS, REQUEST_STEP_WORDS, render_builtin, words
from cityhub.notices.render import render
from cityhub.platform.errors import Unprocessable
from cityhub.requests.enums import RequestStatus
from cityhub.requests.service import NOTIFIED
from cityhub.web.i18n import HAN, LANGUAGES, LATIN_WORD

PLACEHOLDERS = {"service": "text"}
TEXTS = {lang: {"title": "{service}", "body": "-"} for lang in LANGUAGES}
WATER = {"zh-Hans": "水费", "zh-Hant": "水費", "en": "Water"}


def test_a_value_in_the_hub_languages_reads_in_each() -> None:
    shown = render(PLACEHOLDERS, TEXTS, {"service": WATER})
    assert {lang: shown[lang]["title"] for lang in LANGUAGES} == WATER
    # One given language serves the others as platform.texts.pick chooses (Chinese first).
    partial = render(PLACEHOLDERS, TEXTS, {"service": {"zh-Hant": "水費", "en": "Water"}})
    assert partial["zh-Hans"]["title"] == "水費" and partial["en"]["title"] == "Water"
    assert render(PLACEHOLDERS, TEXTS, {"service": "水费"})["en"]["title"] == "水费"


@pytest.mark.parametrize("value", [{"fr": "Eau"}, {}, {"en": ""}, {"en": 3}])
def test_a_value_in_no_language_of_the_hub_is_refused(value: object) -> None:
    with pytest.raises(Unprocessable) as refused:
        render(PLACEHOLDERS, TEXTS, {"service": value})
    assert refused.value.field == "values.service"


def test_a_request_update_says_its_status_and_step_in_the_reader_language() -> None:
    assert set(REQUEST_STATUS_WORDS) == {s.value for s in RequestStatus}
    assert set(NOTIFIED) <= set(REQUEST_STEP_WORDS)
    for status in RequestStatus:
        for kind in NOTIFIED:
            shown = render_builtin("request-update", {
                "request": "R-1001",
                "status": words(REQUEST_STATUS_WORDS, status.value),
                "note": words(REQUEST_STEP_WORDS, kind),
            })  # fmt: skip
            assert not HAN.search(shown["en"]["body"]), shown["en"]
            for lang in ("zh-Hans", "zh-Hant"):
                assert not LATIN_WORD.search(shown[lang]["body"]), shown[lang]
            assert status.value not in shown["zh-Hans"]["body"]
