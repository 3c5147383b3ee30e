"""The biller catalogue: a channel lists the billers granted to it with the fields each asks,
and a look-up checks every declared field before the biller is asked."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from cityhub.billing import bills
from cityhub.billing.models import Bill
from cityhub.connectors import types
from cityhub.identity.models import Role
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import PayWorld, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import create_channel
from tests.simulators.fixtures import Sim

LABELS = {"zh-Hans": "区号", "zh-Hant": "區號", "en": "District"}
FIELDS = [
    {
        "name": "account",
        "labels": {"zh-Hans": "户号", "zh-Hant": "戶號", "en": "Account number"},
        "pattern": r"^\d{10}$",
        "example": "0123456789",
    },
    {"name": "district", "labels": LABELS, "pattern": r"^[A-Z]{2}$", "example": "PD"},
]


async def _declare(world: PayWorld, **terms: Any) -> dict[str, Any]:
    staff = await world.staff(Role.CITY_ADMIN)
    saved = await staff.call(
        "PUT", world.url("/services/water/biller-terms"), json=terms, expect=200
    )
    await staff.client.aclose()
    return dict(saved)


async def _kept_bills(db: Database, world: PayWorld) -> int:
    async with db.unit_of_work() as session:
        count = await session.scalar(
            select(func.count()).select_from(Bill).where(Bill.city_id == world.city.id)
        )
    return int(count or 0)


async def test_a_channel_lists_its_billers_with_the_fields_each_asks(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    saved = await _declare(
        world, sub_type="water", fields=FIELDS, amount_rule="partial", min_fen=100
    )
    assert saved["sub_type"] == "water" and saved["fields"][1]["labels"] == LABELS

    first = await world.channel.get(world.url("/billers"), params={"limit": 2})
    assert [b["code"] for b in first["items"]] == ["water", "power"]
    assert first["next_cursor"] is not None
    rest = await world.channel.get(
        world.url("/billers"), params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert [b["code"] for b in rest["items"]] == ["gas"] and rest["next_cursor"] is None

    water = first["items"][0]
    assert water["sub_type"] == "water"
    assert [f["name"] for f in water["fields"]] == ["account", "district"]
    assert water["fields"][1] == {**FIELDS[1], "labels": LABELS}
    assert (water["amount_rule"], water["min_fen"]) == ("partial", 100)
    assert water["timezone"] == world.city.timezone
    # A biller with no declared fields asks one `account` field of its account format.
    power = first["items"][1]
    assert power["sub_type"] == "other"
    [account] = power["fields"]
    assert account["name"] == "account" and account["pattern"] == r"^[A-Za-z0-9-]{1,40}$"
    assert set(account["labels"]) == {"zh-Hans", "zh-Hant", "en"}
    assert await world.channel.get(world.url("/billers/water")) == water


async def test_a_channel_sees_only_the_billers_granted_to_it(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    other = await create_channel(db)
    await create_grant(db, channel=other.channel, service=world.services["gas"])
    channel = await api.as_channel(other.client_id, other.secret)
    listed = await channel.get(world.url("/billers"))
    assert [b["code"] for b in listed["items"]] == ["gas"]
    problem = await channel.get(world.url("/billers/water"), expect=403)
    assert problem["code"] == "service_not_granted"
    missing = await channel.get(world.url("/billers/nothing"), expect=404)
    assert missing["code"] == "service_not_found"
    await channel.client.aclose()


async def test_a_look_up_checks_each_declared_field_and_names_the_one_at_fault(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _declare(world, sub_type="water", fields=FIELDS)
    [bill] = world.unpaid("water")
    url = world.url("/services/water/bills")
    cases = [
        ({"account": bill.account}, "field_missing", "district"),
        ({"account": bill.account, "district": "pd"}, "invalid_field", "district"),
        ({"account": "12", "district": "PD"}, "invalid_account", "account"),
        ({"account": bill.account, "district": "PD", "plate": "x"}, "unknown_field", "plate"),
        ({"district": "PD"}, "field_missing", "account"),
    ]
    for params, code, field in cases:
        problem = await world.channel.get(url, params=params, expect=422)
        assert (problem["code"], problem["field"]) == (code, field), params
    assert await _kept_bills(db, world) == 0  # the biller was never asked, nothing kept
    found = await world.channel.get(url, params={"account": bill.account, "district": "PD"})
    assert found["account"] == bill.account and found["sub_type"] == "water"
    assert bill.bill_id in [b["bill_id"] for b in found["bills"]]


async def test_a_look_up_carries_the_masked_holder_due_date_and_late_fee(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _declare(world, sub_type="water")
    today = dt.datetime.now(CHINA).date()
    kind, provider = "water", world.services["water"].connector_config["provider_id"]
    person, account, late = next(
        (p, a, b)
        for p in sim.world.people
        for a in [sim.world.account_of(kind, provider, p)]
        for b in sim.world.bills(kind, provider, a, today)
        if b["late_fee_fen"] > 0
    )
    found = await world.channel.get(world.url("/services/water/bills"), params={"account": account})
    shown = {b["bill_id"]: b for b in found["bills"]}[late["id"]]
    assert shown["holder"] == person.name[0] + "*"  # as the biller masked it
    assert person.name not in str(found) or len(person.name) == 1
    assert shown["late_fee_fen"] == late["late_fee_fen"] > 0
    assert shown["due_date"] == late["due_date"] and shown["period"] == late["period"]
    assert shown["sub_type"] == "water"
    async with db.unit_of_work() as session:
        row = await session.scalar(
            select(Bill).where(Bill.city_id == world.city.id, Bill.bill_ref == late["id"])
        )
    assert row is not None
    assert (row.holder, row.late_fee_fen) == (person.name[0] + "*", late["late_fee_fen"])


async def test_a_biller_field_must_be_well_formed(api: Api, db: Database, sim: Sim) -> None:
    world = await pay_world(db, api, sim)
    staff = await world.staff(Role.CITY_ADMIN)
    url = world.url("/services/water/biller-terms")
    bad = [
        [FIELDS[0], FIELDS[0]],  # two of one name
        [{**FIELDS[1], "example": "pd"}],  # an example its own pattern refuses
        [{**FIELDS[1], "pattern": r"^(\d)\1$"}],  # a backtracking pattern
        [{**FIELDS[1], "labels": {"en": "District"}}],  # a language missing
        [{**FIELDS[1], "name": "cursor"}],  # a name the look-up already has
    ]
    for fields in bad:
        await staff.call("PUT", url, json={"fields": fields}, expect=422)
    shown = await world.channel.get(url)
    assert shown["stored"] is False and shown["fields"] is None  # nothing half-written
    await staff.client.aclose()


async def test_a_holder_name_a_biller_sends_whole_is_kept_masked(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    service = world.services["water"]
    sent = [
        types.Bill(
            bill_id="B-1", account="1001", period="2026-11", amount_fen=100, holder="谢小明"
        ),
        types.Bill(bill_id="B-2", account="1001", period="2026-10", amount_fen=100, holder="谢*"),
    ]
    async with db.unit_of_work() as session:
        kept = await bills.keep(
            session=session, city_id=world.city.id, service_id=service.id, bills=sent
        )
    assert [b.holder for b in kept] == ["谢**", "谢*"]  # never more than the biller's mask


async def test_another_citys_billers_are_not_shown(api: Api, db: Database, sim: Sim) -> None:
    world = await pay_world(db, api, sim)
    elsewhere = await pay_world(db, api, sim)
    for path in ("/billers", "/billers/water"):
        problem = await world.channel.get(elsewhere.url(path), expect=403)
        assert problem["code"] == "city_not_granted"


async def test_partial_amounts_come_in_the_billers_multiple(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    await _declare(world, amount_rule="partial", min_fen=100, multiple_fen=100, sub_type="water")
    shown = await world.channel.get(world.url("/billers/water"))
    assert shown["multiple_fen"] == 100
    [bill] = world.unpaid("water")
    await world.look_up(bill)
    problem = await world.quote(bill, amount_fen=150, expect=422)
    assert (problem["code"], problem["field"]) == ("amount_not_multiple", "amount_fen")
    part = await world.quote(bill, amount_fen=200)
    assert part["amount_fen"] == 200
