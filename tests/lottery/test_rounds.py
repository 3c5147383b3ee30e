"""Rounds as city admins run them: validation, roles, the close (eligibility re-checked,
tickets from the rules), and the draw's refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from cityhub.cities.models import Service, ServiceKind
from cityhub.identity.models import Role
from cityhub.lottery.models import LotteryApplication
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer
from tests.cities.factories import create_city, create_service
from tests.client import Api
from tests.identity.factories import PASSWORD, create_staff
from tests.lottery.factories import (
    SECRET,
    LotteryWorld,
    apply,
    create_round,
    eligible,
    end_window,
    lottery_world,
    resident,
    round_body,
)
from tests.simulators.fixtures import Sim

NAIVE = "2030-01-01T09:00:00"


MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"opens_at": NAIVE}, "opens_at"),
    ({"commitment": "ABC"}, "commitment"),
    ({"quota": 0}, "quota"),
    ({"code": "Not A Slug"}, "code"),
    ({"rules": {"multipliers": [{"from_failures": 2, "tickets": 2}]}}, "rules.multipliers"),
    ({"rules": {"multipliers": [{"from_failures": 0, "tickets": 1}] * 2}}, "rules.multipliers"),
    (
        {"rules": {"multipliers": [{"from_failures": 0, "tickets": 0}]}},
        "rules.multipliers.0.tickets",
    ),
    ({"surprise": 1}, "surprise"),
]


async def test_a_malformed_round_is_422_naming_the_field(api: Api, db: Database) -> None:
    world = await lottery_world(db, api)
    for change, field in MALFORMED:
        problem = await world.staff.post(world.url(), json=round_body(**change), expect=422)
        assert problem["field"] == field, (change, problem)
    assert (await api.get(world.url()))["items"] == []


async def test_a_round_takes_its_title_in_three_languages(api: Api, db: Database) -> None:
    world = await lottery_world(db, api)
    titles = {"zh-Hans": "一月小客车指标", "zh-Hant": "一月小客車指標", "en": "Plates, January"}
    made = await create_round(world, titles=titles)
    assert made["titles"] == titles
    assert (await api.get(world.url()))["items"][0]["titles"] == titles
    problem = await world.staff.post(
        world.url(), json=round_body(code="plates-x", titles={"de": "Kennzeichen"}), expect=422
    )
    assert problem["field"].startswith("titles")


async def test_window_service_and_code_rules(api: Api, db: Database) -> None:
    world = await lottery_world(db, api)
    now = dt.datetime.now(dt.UTC)
    backwards = round_body(
        opens_at=now.isoformat(), closes_at=(now - dt.timedelta(hours=1)).isoformat()
    )
    problem = await world.staff.post(world.url(), json=backwards, expect=422)
    assert "closes_at must be after opens_at" in problem["detail"]
    past = round_body(
        opens_at=(now - dt.timedelta(days=2)).isoformat(),
        closes_at=(now - dt.timedelta(days=1)).isoformat(),
    )
    problem = await world.staff.post(world.url(), json=past, expect=422)
    assert (problem["code"], problem["field"]) == ("window_over", "closes_at")
    await create_service(db, city=world.city, code="water", kind=ServiceKind.BILL)
    problem = await world.staff.post(world.url(), json=round_body(service="water"), expect=422)
    assert (problem["code"], problem["field"]) == ("not_a_lottery", "service")
    taken = await create_round(world)
    problem = await world.staff.post(world.url(), json=round_body(code=taken["code"]), expect=409)
    assert problem["code"] == "round_exists"
    listed = await api.get(world.url())
    assert [r["code"] for r in listed["items"]] == [taken["code"]]


async def test_only_the_citys_admins_run_rounds(api: Api, db: Database) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    auditor = await create_staff(db, city=world.city, role=Role.AUDITOR)
    as_auditor = await api.as_staff(auditor.username, PASSWORD)
    problem = await as_auditor.post(world.url(), json=round_body(), expect=403)
    assert problem["code"] == "role_required"
    problem = await as_auditor.post(world.url(code, "/close"), expect=403)
    assert problem["code"] == "role_required"
    elsewhere = await create_staff(db, city=await create_city(db), role=Role.CITY_ADMIN)
    as_other = await api.as_staff(elsewhere.username, PASSWORD)
    problem = await as_other.post(world.url(code, "/close"), expect=404)
    assert problem["code"] == "city_not_found"
    problem = await world.channel.post(world.url(code, "/close"), expect=401)
    assert problem["code"] == "not_signed_in"


async def test_close_waits_for_the_window_and_draw_for_the_close(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    problem = await world.staff.post(world.url(code, "/close"), expect=409)
    assert problem["code"] == "window_not_over"
    draw = {"secret": SECRET, "public_value": "3412.56"}
    problem = await world.staff.post(world.url(code, "/draw"), json=draw, expect=409)
    assert problem["code"] == "round_not_closed"
    problem = await world.staff.post(world.url(code, "/publish"), expect=409)
    assert problem["code"] == "round_not_drawn"
    await end_window(db, code, hub_clock)
    closed = await world.staff.post(world.url(code, "/close"), expect=200)
    assert closed["applicant_count"] == 0 and closed["files"] == [
        "applicants.json",
        "applicants.csv",
    ]
    problem = await world.staff.post(world.url(code, "/close"), expect=409)
    assert problem["code"] == "round_closed"
    problem = await world.staff.post(
        world.url(code, "/draw"), json={"public_value": "1"}, expect=422
    )
    assert (problem["code"], problem["field"]) == ("secret_required", "secret")
    drawn = await world.staff.post(world.url(code, "/draw"), json=draw, expect=200)
    assert drawn["status"] == "drawn"  # an empty round draws nobody, verifiably


async def test_eligibility_is_checked_again_at_close_and_the_ineligible_are_excluded(
    api: Api, db: Database, sim: Sim, other_simulator: RunningServer, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    for n, person in enumerate(eligible(sim.world, 3)):
        await resident(world.channel, f"u{n}", person)
        await apply(world, code, f"u{n}")
    # The administration's records change before the close: the city's service now reaches
    # another vehicle administration, where these people have no record.
    async with db.unit_of_work() as session:
        await session.execute(
            update(Service)
            .where(Service.id == world.service.id)
            .values(
                connector_config={"provider_id": "sh-vehicles", "base_url": other_simulator.url}
            )
        )
    await end_window(db, code, hub_clock)
    closed = await world.staff.post(world.url(code, "/close"), expect=200)
    assert (closed["applicant_count"], closed["excluded_count"]) == (0, 3)
    mine = await world.channel.get(world.url(code, "/applications/u0"))
    assert mine["status"] == "excluded"
    assert mine["excluded_reason"] == "no resident record with this identity number"


async def test_failures_in_earlier_rounds_give_more_tickets(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    rules = {
        "multipliers": [{"from_failures": 0, "tickets": 1}, {"from_failures": 1, "tickets": 3}]
    }
    people = eligible(sim.world, 4)
    for n, person in enumerate(people):
        await resident(world.channel, f"u{n}", person)
    first = (await create_round(world, quota=1, rules=rules))["code"]
    for n in range(4):
        await apply(world, first, f"u{n}")
    await _draw(world, db, first, hub_clock)
    outcome = [await world.channel.get(world.url(first, f"/applications/u{n}")) for n in range(4)]
    losers = [n for n, a in enumerate(outcome) if a["status"] == "lost"]
    assert len(losers) == 3
    second = (await create_round(world, quota=1, rules=rules))["code"]
    made = {n: await apply(world, second, f"u{n}") for n in range(4)}
    assert all((made[n]["failures"], made[n]["tickets"]) == (1, 3) for n in losers)
    winner = next(n for n in range(4) if n not in losers)
    assert (made[winner]["failures"], made[winner]["tickets"]) == (0, 1)
    closed = await _draw(world, db, second, hub_clock)
    listing = await api.get(world.url(second, "/files/applicants.csv"))
    assert sorted(int(r.split(",")[1]) for r in listing.split()[1:]) == [1, 3, 3, 3]
    assert closed["applicants_hash"]


async def test_a_list_changed_after_close_is_refused_at_the_draw(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world))["code"]
    await resident(world.channel, "u0", eligible(sim.world, 1)[0])
    await apply(world, code, "u0")
    await end_window(db, code, hub_clock)
    await world.staff.post(world.url(code, "/close"), expect=200)
    async with db.unit_of_work() as session:
        await session.execute(update(LotteryApplication).values(tickets=9))
    problem = await world.staff.post(
        world.url(code, "/draw"), json={"secret": SECRET, "public_value": "1"}, expect=409
    )
    assert problem["code"] == "list_changed"
    async with db.unit_of_work() as session:
        app = await session.scalar(select(LotteryApplication))
    assert app is not None and app.score is None


async def _draw(world: LotteryWorld, db: Database, code: str, hub_clock: Clock) -> dict[str, Any]:
    await end_window(db, code, hub_clock)
    closed: dict[str, Any] = await world.staff.post(world.url(code, "/close"), expect=200)
    await world.staff.post(
        world.url(code, "/draw"), json={"secret": SECRET, "public_value": "7"}, expect=200
    )
    await world.staff.post(world.url(code, "/publish"), expect=200)
    return closed
