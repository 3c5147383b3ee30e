"""What a query answers, for people: the known queries declare every field the simulated
agencies send (labels in three languages), a service may declare its own, and a bad
declaration is refused as a misconfiguration, not shown as raw data."""

from __future__ import annotations

import datetime as dt

import pytest

from cityhub.platform.errors import Unavailable
from cityhub.queries.fields import KNOWN, AnswerField, fields_of, t
from cityhub.simulators import World
from cityhub.web.portal.answers import cards

TODAY = dt.date(2026, 12, 1)
# Read through other fields (currency, the offence per language), or meaningless to people
# (an outage's id): never shown.
HIDDEN = {"currency", "offence_zh", "offence_zh_hant", "id"}


def records_of(query: str) -> list[dict[str, object]]:
    world = World(42)
    person = world.people[0]
    return {
        "traffic_violations": world.violations("sh", person.plates[0], TODAY),
        "social_insurance": [world.social_insurance("sh", person, TODAY)],
        "housing_fund": [world.housing_fund("sh", person)],
        "air_quality": [world.air_quality("sh", "浦东", dt.datetime(2026, 12, 1, tzinfo=dt.UTC))],
        "planned_outages": world.outages("sh", "浦东", TODAY),
    }[query]


@pytest.mark.parametrize("query", sorted(KNOWN))
def test_the_known_queries_declare_every_field_the_agencies_send(query: str) -> None:
    declared = {f.name for f in KNOWN[query]} | {
        s for f in KNOWN[query] for s in f.sources.values()
    }
    sent = {k for r in records_of(query) for k in r}
    assert sent - declared <= HIDDEN, sent - declared
    for field in KNOWN[query]:
        assert set(field.label) == {"zh-Hans", "zh-Hant", "en"}, field.name
        assert all(set(v) == {"zh-Hans", "zh-Hant", "en"} for v in field.values.values())


def test_an_answer_reads_as_money_times_and_labels() -> None:
    records = [{"fine_fen": 20000, "occurred_at": "2026-11-30T23:30:00+08:00",
                "status": "unpaid", "offence": "running a red light", "offence_zh": "闯红灯",
                "offence_zh_hant": "闖紅燈"}]  # fmt: skip
    fields = KNOWN["traffic_violations"]
    [en] = cards(records, fields, lang="en", tz="Asia/Shanghai", currency="CNY")
    shown = {s.name: s for s in en}
    assert shown["fine_fen"].label == "Fine" and shown["fine_fen"].value == "CN¥200.00"
    assert shown["occurred_at"].value == "Nov 30, 2026, 11:30:00\u202fPM"  # in the city's time
    assert shown["status"].value == "Unpaid" and shown["offence"].value == "running a red light"
    [hant] = cards(records, fields, lang="zh-Hant", tz="Asia/Shanghai", currency="CNY")
    shown = {s.name: s for s in hant}
    assert shown["fine_fen"].value == "¥200.00" and shown["offence"].value == "闖紅燈"
    assert shown["status"].value == "未繳納" and "2026年11月30日" in shown["occurred_at"].value


def test_a_service_declares_its_own_fields_and_a_bad_declaration_is_a_misconfiguration() -> None:
    config = {"fields": [{"name": "fee", "label": {"en": "Fee", "zh-Hans": "费用"},
                          "type": "money"}]}  # fmt: skip
    assert fields_of("permits", config, "permits") == (
        AnswerField("fee", {"en": "Fee", "zh-Hans": "费用"}, "money"),
    )
    assert fields_of("air_quality", {}, "air") == KNOWN["air_quality"]
    colour = {"name": "x", "label": t("x", "x", "x"), "type": "colour"}
    for bad in ({"fields": {}}, {"fields": [{"name": "x", "label": {"fr": "X"}}]},
                {"fields": [colour]}):  # fmt: skip
        with pytest.raises(Unavailable) as refused:
            fields_of("permits", bad, "permits")
        assert refused.value.code == "query_misconfigured"


def test_an_undeclared_query_shows_every_field_by_its_name() -> None:
    [card] = cards([{"a": 1, "b": "x"}], (), lang="en", tz="Asia/Shanghai", currency="CNY")
    assert [(s.label, s.value) for s in card] == [("a", "1"), ("b", "x")]
