"""Settlement batches per biller and per channel, `cityhub settle` and `cityhub ledger check`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update

from cityhub.billing import ledger
from cityhub.billing.models import LedgerAccount, Posting
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import balances, ledger_ok, pay_world
from tests.client import Api
from tests.outbox_helpers import drain, invoke
from tests.simulators.fixtures import Sim


async def _postings(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Posting)) or 0)


async def test_a_day_settles_into_one_batch_per_biller_and_channel_once(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    water = world.unpaid("water", 2)
    power = world.unpaid("power", 1)
    paid = [await world.pay(bill) for bill in water + power]
    await drain(db, settings)
    admin = await world.staff()
    await admin.post(
        world.url(f"/payments/{paid[0]['id']}/refunds"),
        json={"amount_fen": 500, "currency": "CNY", "reason": "overcharge"},
    )
    today = dt.datetime.now(CHINA).date()
    batches = (await admin.post(world.url("/settlements"), json={"day": today.isoformat()}))[
        "items"
    ]
    by_party = {(b["party"], b["party_name"]): b for b in batches}
    water_net = water[0].amount_fen + water[1].amount_fen - 500
    assert by_party[("biller", "water")]["net_fen"] == water_net
    assert by_party[("biller", "power")]["net_fen"] == power[0].amount_fen
    channel = by_party[("channel", world.login.channel.slug)]
    charged = sum(p["total_fen"] for p in paid)
    assert channel["net_fen"] == -(charged - 500)  # the channel pays the hub
    assert channel["breakdown"]["refund"] == {"entries": 1, "net_fen": 500}
    after = await balances(db, world.city)
    assert after[ledger.channel_receivable(world.login.channel.id)] == 0
    assert after[ledger.biller_payable(world.services["water"].id)] == 0
    assert after[ledger.SETTLEMENT] == charged - 500 - water_net - power[0].amount_fen
    await ledger_ok(db)

    posted = await _postings(db)
    again = (await admin.post(world.url("/settlements"), json={"day": today.isoformat()}))["items"]
    assert [b["id"] for b in again] == [b["id"] for b in batches]
    assert await _postings(db) == posted
    listed = (await admin.get(world.url("/settlements"), params={"day": today.isoformat()}))[
        "items"
    ]
    assert len(listed) == 3

    code, output = await invoke(
        db.url, "settle", "--city", world.city.slug, "--date", today.isoformat()
    )
    assert code == 0 and "3 batch(es)" in output, output
    # Money in yuan with two decimals: 12345 fen is "123.45 CNY".
    assert f"hub pays {water_net // 100}.{water_net % 100:02d} CNY" in output, output
    billers = water_net + power[0].amount_fen
    assert f"billers are paid {billers // 100}.{billers % 100:02d} CNY" in output, output
    assert await _postings(db) == posted
    auditor = await world.staff(Role.AUDITOR)
    problem = await auditor.post(
        world.url("/settlements"), json={"day": today.isoformat()}, expect=403
    )
    assert problem["code"] == "role_required"
    assert len((await auditor.get(world.url("/settlements")))["items"]) == 3
    for client in (admin, auditor):
        await client.client.aclose()


async def test_later_payments_go_to_the_next_batch(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    first, second = world.unpaid("gas", 2)
    await world.pay(first)
    await drain(db, settings)
    admin = await world.staff()
    today = dt.datetime.now(CHINA).date()
    await admin.post(world.url("/settlements"), json={"day": today.isoformat()})
    await world.pay(second)
    await drain(db, settings)
    batches = (await admin.post(world.url("/settlements"), json={"day": today.isoformat()}))[
        "items"
    ]
    assert {b["net_fen"] for b in batches if b["party"] == "biller"} == {first.amount_fen}
    tomorrow = today + dt.timedelta(days=1)
    later = (await admin.post(world.url("/settlements"), json={"day": tomorrow.isoformat()}))[
        "items"
    ]
    assert {b["net_fen"] for b in later if b["party"] == "biller"} == {second.amount_fen}
    await ledger_ok(db)
    await admin.client.aclose()


async def test_ledger_check_from_the_command_line_finds_a_tampered_balance(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await pay_world(db, api, sim)
    await world.pay(world.unpaid("water")[0])
    await drain(db, settings)
    code, output = await invoke(db.url, "ledger", "check")
    assert code == 0 and "ledger ok: 2 postings, 4 entries, 3 accounts" in output, output
    receivable = ledger.channel_receivable(world.login.channel.id)
    async with db.unit_of_work() as session:
        await session.execute(
            update(LedgerAccount)
            .where(LedgerAccount.code == receivable)
            .values(balance_fen=LedgerAccount.balance_fen + 1)
        )
    code, output = await invoke(db.url, "ledger", "check", "--city", world.city.slug)
    assert code == 1 and "ledger BROKEN" in output and receivable in output, output
