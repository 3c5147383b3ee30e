"""Reconciliation finds each kind of discrepancy planted on either side."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from sqlalchemy import select, update

from cityhub.billing import flows
from cityhub.billing import service as payments
from cityhub.billing.models import Payment
from cityhub.outbox import OutboxEvent
from cityhub.platform import csvsafe
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.simulators.world import CHINA
from tests.billing.factories import pay_world
from tests.client import Api
from tests.outbox_helpers import drain, invoke
from tests.simulators.fixtures import Sim


def _csv(rows: list[tuple[str, str, int, str]]) -> str:
    lines = ["payment_id,channel_txn_id,amount_fen,currency,kind"]
    lines += [f"{p},{t},{a},CNY,{k}" for p, t, a, k in rows]
    return "\n".join(lines) + "\n"


async def test_reconciliation_finds_every_planted_discrepancy(
    api: Api, db: Database, sim: Sim, settings: Settings, tmp_path: Path
) -> None:
    world = await pay_world(db, api, sim)
    bills = world.unpaid("water", 5)
    p1, p2, p3, p4 = [await world.pay(bill) for bill in bills[:4]]
    # p4: the hub records the biller's acceptance, but the biller never saw it.
    p4_row = await _id(db, p4["id"])
    async with db.unit_of_work() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.topic == payments.PAY_BILLER)
            .where(OutboxEvent.payload["payment_id"].as_integer() == p4_row)
            .values(status="done")
        )
        view = await payments.get_view_or_raise(
            session=session, city_id=world.city.id, public_id=p4["id"], channel_id=None
        )
        assert await flows.complete(session=session, view=view, provider_ref="GHOST")
    await drain(db, settings)
    # Someone pays a bill at the water company's counter: the hub never hears of it.
    counter = bills[4]
    paid = sim.control.post(
        "/water/sh-water/payments",
        json={
            "payment_id": "counter-1",
            "account": counter.account,
            "bill_id": counter.bill_id,
            "amount_fen": counter.amount_fen,
        },
    )
    assert paid.status_code == 200, paid.text
    # p3: the hub's amount no longer agrees with what the biller took.
    async with db.unit_of_work() as session:
        await session.execute(
            update(Payment)
            .where(Payment.public_id == p3["id"])
            .values(amount_fen=Payment.amount_fen + 7)
        )
    admin = await world.staff()
    await admin.post(
        world.url(f"/payments/{p2['id']}/refunds"),
        json={"amount_fen": p2["amount_fen"], "currency": "CNY", "reason": "duplicate charge"},
    )
    await drain(db, settings)  # the full refund is reversed at the biller

    today = dt.datetime.now(CHINA).date().isoformat()
    statement = _csv(
        [
            (p1["id"], "t1", p1["total_fen"], "charge"),
            (p1["id"], "t1", p1["total_fen"], "charge"),  # charged twice
            (p2["id"], "t2", p2["total_fen"], "charge"),
            (p2["id"], "r2", p2["total_fen"], "refund"),
            (p3["id"], "t3", p3["total_fen"] - 100, "charge"),  # a different amount
            ("pay_unknown", "t9", 1234, "charge"),  # p4 left out, this one unknown
        ]
    )
    stored = await world.channel.call(
        "PUT",
        world.url(f"/statements/{today}"),
        content=statement.encode(),
        headers={"Content-Type": "text/csv"},
        expect=200,
    )
    assert stored["lines"] == 6

    report = await admin.post(world.url("/reconciliations"), json={"day": today})
    found = {(i["party"], i["line"], i["payment_id"], i["result"]) for i in report["items"]}
    slug = world.login.channel.slug
    assert found == {
        ("biller", "payment", p1["id"], "matched"),
        ("biller", "payment", p2["id"], "matched"),
        ("biller", "payment", p3["id"], "amount_mismatch"),
        ("biller", "payment", p4["id"], "missing_at_biller"),
        ("biller", "payment", "counter-1", "missing_at_hub"),
        ("biller", "reversal", p2["id"], "matched"),
        ("channel", "payment", p1["id"], "duplicate_at_channel"),
        ("channel", "payment", p1["id"], "matched"),
        ("channel", "payment", p2["id"], "matched"),
        ("channel", "payment", p3["id"], "amount_mismatch"),
        ("channel", "payment", p4["id"], "missing_at_channel"),
        ("channel", "payment", "pay_unknown", "missing_at_hub"),
        ("channel", "refund", p2["id"], "matched"),
    }
    assert report["counts"]["matched"] == 6
    assert {i["party_name"] for i in report["items"]} == {"water", slug}
    mismatch = next(i for i in report["items"] if i["result"] == "amount_mismatch")
    assert mismatch["their_fen"] - mismatch["hub_fen"] in (-7, -100)

    exported = await admin.get(world.url(f"/reconciliations/{today}"), params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == len(report["items"])
    assert {r["result"] for r in rows} >= {"missing_at_hub", "duplicate_at_channel"}
    target = tmp_path / "report.csv"
    code, output = await invoke(
        db.url,
        "reconcile",
        "report",
        "--city",
        world.city.slug,
        "--date",
        today,
        "--csv",
        str(target),
    )
    assert code == 0, output
    assert target.read_text(encoding="utf-8") == exported
    code, output = await invoke(
        db.url, "reconcile", "report", "--city", world.city.slug, "--date", today
    )
    assert code == 0 and "counter-1" in output and "missing_at_hub: 2" in output, output
    await admin.client.aclose()


async def _id(db: Database, public_id: str) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Payment.id).where(Payment.public_id == public_id))
    assert found is not None
    return int(found)


async def test_a_statement_with_a_bad_line_is_refused_naming_it(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    url = world.url("/statements/2025-11-01")
    body = "payment_id,amount_fen,currency\npay_1,12.50,CNY\n"
    problem = await world.channel.call("PUT", url, content=body.encode(), expect=422)
    assert (problem["code"], problem["field"]) == ("invalid_statement", "line 2.amount_fen")
    extra = "payment_id,amount_fen,currency\npay_1,1250,CNY\npay_2,100,CNY,surplus\n"
    problem = await world.channel.call("PUT", url, content=extra.encode(), expect=422)
    assert (problem["code"], problem["field"]) == ("invalid_statement", "line 3.field 4")
    assert "more fields than the header" in problem["detail"]
    problem = await world.channel.call("PUT", url, content=b"id,amount\n1,2\n", expect=422)
    assert problem["field"] == "header"
    problem = await world.channel.call("PUT", url, content=b"\xff\xfe", expect=422)
    assert problem["field"] == "body"


async def test_the_report_csv_writes_formula_cells_as_text(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await pay_world(db, api, sim)
    today = dt.datetime.now(CHINA).date().isoformat()
    formulas = ['=HYPERLINK("http://evil/")', "+1+1", "-2+3", "@SUM(A1)"]
    statement = _csv([(f, f"t{n}", 100, "charge") for n, f in enumerate(formulas)])
    await world.channel.call(
        "PUT", world.url(f"/statements/{today}"), content=statement.encode(),
        headers={"Content-Type": "text/csv"}, expect=200,
    )  # fmt: skip
    admin = await world.staff()
    await admin.post(world.url("/reconciliations"), json={"day": today})
    exported = await admin.get(world.url(f"/reconciliations/{today}"), params={"format": "csv"})
    cells = [c for row in csv.reader(io.StringIO(exported)) for c in row]
    assert not [c for c in cells if c.startswith(csvsafe.TRIGGERS)], cells
    ids = {r["payment_id"] for r in csv.DictReader(io.StringIO(exported))}
    assert {"'" + f for f in formulas} <= ids
    await admin.client.aclose()
