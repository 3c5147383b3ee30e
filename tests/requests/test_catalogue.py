"""Request types, departments and the working calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from cityhub.requests.calendar import Calendar
from tests.requests.factories import STREETLIGHT, RequestWorld, key, texts

SHANGHAI = ZoneInfo("Asia/Shanghai")


def calendar(**extra: list[str]) -> Calendar:
    return Calendar.of(
        timezone="Asia/Shanghai",
        workdays=[1, 2, 3, 4, 5],
        periods=[["09:00", "12:00"], ["13:30", "17:30"]],
        holidays=extra.get("holidays", []),
        extra_workdays=extra.get("extra_workdays", []),
    )


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=SHANGHAI)


def test_deadline_counts_working_hours_only() -> None:
    # Friday 16:30 + 3 working hours: 1 h on Friday, then Monday 09:00-11:00.
    due = calendar().add(at("2026-12-04", "16:30"), 3)
    assert due == at("2026-12-07", "11:00")


def test_lunch_break_and_evening_do_not_count() -> None:
    due = calendar().add(at("2026-12-01", "11:00"), 2)
    assert due == at("2026-12-01", "14:30")
    assert calendar().add(at("2026-12-01", "20:00"), 1) == at("2026-12-02", "10:00")


def test_holidays_are_skipped_and_make_up_days_worked() -> None:
    # 2027-01-01 is a Friday holiday; Saturday 2027-01-02 a make-up working day.
    cal = calendar(holidays=["2027-01-01"], extra_workdays=["2027-01-02"])
    assert cal.add(at("2026-12-31", "17:00"), 1) == at("2027-01-02", "09:30")
    plain = calendar(holidays=["2027-01-01"])
    assert plain.add(at("2026-12-31", "17:00"), 1) == at("2027-01-04", "09:30")


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
        lambda d: d.replace(tzinfo=SHANGHAI)
    ),
    minutes=st.integers(min_value=1, max_value=60 * 200),
)
def test_working_time_between_start_and_deadline_is_the_sla(
    start: dt.datetime, minutes: int
) -> None:
    cal = calendar(holidays=["2026-10-01", "2026-10-02"], extra_workdays=["2026-09-27"])
    due = cal.add(start, minutes / 60)
    assert due > start
    assert cal.between(start, due) == dt.timedelta(minutes=minutes)
    local = due.astimezone(SHANGHAI)
    assert cal.is_workday(local.date())


async def test_types_are_public_in_three_languages_with_ordered_attributes(
    world: RequestWorld,
) -> None:
    found = (await world.api.get(world.url("/request-types")))["items"]
    assert [t["code"] for t in found] == ["streetlight"]
    light = await world.api.get(world.url("/request-types/streetlight"))
    assert light["names"]["zh-Hant"] == "Street light out（繁）"
    assert light["department"] == "roads" and light["sla_hours"] == 16
    assert [a["code"] for a in light["attributes"]] == ["kind", "pole", "count"]
    assert light["attributes"][0]["values"][1]["key"] == "flicker"


async def test_type_checks(world: RequestWorld) -> None:
    other = {**STREETLIGHT, "code": "pothole", "department": "sewers"}
    problem = await world.admin.post(
        world.url("/request-types"), json=other, headers=key(), expect=404
    )
    assert problem["field"] == "department"
    bad = {**STREETLIGHT, "code": "noise", "attributes": [{
        "code": "when", "datatype": "colour", "descriptions": texts("When")}]}  # fmt: skip
    problem = await world.admin.post(
        world.url("/request-types"), json=bad, headers=key(), expect=422
    )
    assert problem["field"].startswith("attributes.0.datatype")
    listless = {**STREETLIGHT, "code": "noise", "attributes": [{
        "code": "kind", "datatype": "singlevaluelist", "descriptions": texts("Kind")}]}  # fmt: skip
    problem = await world.admin.post(
        world.url("/request-types"), json=listless, headers=key(), expect=422
    )
    assert problem["field"] == "attributes"
    await world.member.post(
        world.url("/request-types"), json={**STREETLIGHT, "code": "x"}, headers=key(), expect=403
    )
    await world.admin.post(world.url("/request-types"), json=STREETLIGHT, headers=key(), expect=409)
    assert len((await world.api.get(world.url("/request-types")))["items"]) == 1


async def test_settings_refuse_a_bad_calendar(world: RequestWorld) -> None:
    problem = await world.admin.patch(
        world.url("/request-settings"), json={"periods": [["13:00", "12:00"]]}, expect=422
    )
    assert problem["field"] == "periods.0"
    problem = await world.admin.patch(
        world.url("/request-settings"), json={"holidays": ["2027-02-30"]}, expect=422
    )
    assert problem["field"] == "holidays.0"
    found = await world.admin.get(world.url("/request-settings"))
    assert found["holidays"] == ["2027-01-01"] and found["periods"][0] == ["09:00", "12:00"]


async def test_departments_list_head_and_members(world: RequestWorld) -> None:
    found = (await world.admin.get(world.url("/request-departments")))["items"]
    roads = next(d for d in found if d["code"] == "roads")
    assert roads["head"] in roads["members"] and world.member_name in roads["members"]
