"""A round end to end over the API, with the simulated vehicle administration deciding
eligibility: commitment, applications, close, draw, publication, and verification of the
downloaded files by the command line."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from cityhub.cli import app as cli
from cityhub.identity.audit import AuditEntry
from cityhub.outbox import OutboxEvent
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.client import Api
from tests.lottery.factories import (
    SECRET,
    apply,
    commitment,
    create_round,
    eligible,
    end_window,
    lottery_world,
    resident,
)
from tests.outbox_helpers import invoke
from tests.simulators.fixtures import Sim


async def test_a_round_from_commitment_to_verified_results(
    api: Api, db: Database, sim: Sim, tmp_path: Path, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    created = await create_round(world, quota=3)
    code = created["code"]
    assert created["commitment"] == commitment() and not created["sealed"]
    assert created["phase"] == "accepting" and created["files"] == []
    public = await api.get(world.url(code))
    assert public["commitment"] == commitment() and public["secret"] is None

    people = eligible(sim.world, 7)
    applied = {}
    for n, person in enumerate(people):
        await resident(world.channel, f"u{n}", person)
        applied[f"u{n}"] = await apply(world, code, f"u{n}")
    first = applied["u0"]
    assert first["status"] == "applied" and first["tickets"] == 1 and first["result"] is None
    assert len({a["application_id"] for a in applied.values()}) == 7
    assert people[0].name not in str(first) and people[0].id_number not in str(first)

    withdrawn = await world.channel.delete(world.url(code, "/applications/u6"), expect=200)
    assert withdrawn["status"] == "withdrawn"
    await end_window(db, code, hub_clock)
    problem = await apply(world, code, "u6", expect=409)
    assert problem["code"] == "round_closed"
    problem = await world.channel.delete(world.url(code, "/applications/u5"), expect=409)
    assert problem["code"] == "round_closed"

    closed = await world.staff.post(world.url(code, "/close"), expect=200)
    assert (closed["status"], closed["applicant_count"], closed["excluded_count"]) == (
        "closed",
        6,
        0,
    )
    listing = await api.get(world.url(code, "/files/applicants.csv"))
    rows = listing.strip().splitlines()
    assert rows[0] == "application_id,tickets" and len(rows) == 7
    assert (
        hashlib.sha256(("\n".join(rows[1:]) + "\n").encode()).hexdigest()
        == closed["applicants_hash"]
    )
    assert applied["u6"]["application_id"] not in listing
    problem = await api.get(world.url(code, "/files/results.json"), expect=404)
    assert problem["code"] == "file_not_published"

    problem = await world.staff.post(
        world.url(code, "/draw"),
        json={"secret": "a secret chosen after seeing the list", "public_value": "3412.56"},
        expect=422,
    )
    assert (problem["code"], problem["field"]) == ("secret_mismatch", "secret")
    drawn = await world.staff.post(
        world.url(code, "/draw"), json={"secret": SECRET, "public_value": "3412.56"}, expect=200
    )
    assert drawn["status"] == "drawn" and drawn["secret"] == SECRET and drawn["seed"]
    assert (await api.get(world.url(code)))["secret"] is None  # not public before publication
    problem = await world.staff.post(
        world.url(code, "/draw"), json={"secret": SECRET, "public_value": "9"}, expect=409
    )
    assert problem["code"] == "already_drawn"
    mine = await world.channel.get(world.url(code, "/applications/u0"))
    assert mine["result"] is None

    published = await world.staff.post(world.url(code, "/publish"), expect=200)
    assert published["status"] == "published" and len(published["files"]) == 5
    for name in published["files"]:
        await api.get(world.url(code, f"/files/{name}"))
        assert api.last is not None and "attachment" in api.last.headers["content-disposition"]
        (tmp_path / name).write_text(api.last.text, encoding="utf-8")
    for paths in (["results.json"], ["applicants.json", "draw.csv", "results.csv"]):
        result = CliRunner().invoke(cli, ["lottery", "verify", *[str(tmp_path / p) for p in paths]])
        assert result.exit_code == 0, result.output
        assert "MATCH" in result.output

    results = [await world.channel.get(world.url(code, f"/applications/u{n}")) for n in range(6)]
    winners = sorted(
        (r for r in results if r["result"]["won"]), key=lambda r: r["result"]["position"]
    )
    assert [r["result"]["position"] for r in winners] == [1, 2, 3]
    assert all(r["status"] == ("won" if r["result"]["won"] else "lost") for r in results)
    assert max(w["result"]["score"] for w in winners) < min(
        r["result"]["score"] for r in results if not r["result"]["won"]
    )
    loser = next(r for r in results if not r["result"]["won"])
    score = await api.get(world.url(code, f"/scores/{loser['application_id']}"))
    assert score["score"] == loser["result"]["score"] == min(score["ticket_scores"])
    assert score["won"] is False and score["seed"] == drawn["seed"]
    result = CliRunner().invoke(
        cli,
        [
            "lottery",
            "verify",
            str(tmp_path / "results.json"),
            "--application",
            loser["application_id"],
        ],
    )
    assert result.exit_code == 0 and loser["result"]["score"] in result.output

    async with db.unit_of_work() as session:
        events = (
            await session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "lottery.drawn"))
        ).all()
        actions = (
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.city_id == world.city.id)
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(e.city_id, e.payload["round"], e.payload["winners"]) for e in events] == [
        (world.city.id, code, 3)
    ]
    lottery_actions = [a for a in actions if a.startswith("lottery.")]
    assert lottery_actions == [f"lottery.round.{a}" for a in ("create", "close", "draw", "publish")]
    assert actions.count("personal_data.read") >= 7 + 6  # each check at application and close


async def test_the_hub_can_keep_the_secret_sealed_and_the_cli_writes_the_files(
    api: Api, db: Database, sim: Sim, tmp_path: Path, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    out = tmp_path / "files"
    created = await create_round(world, commitment=None, quota=1)
    code = created["code"]
    assert created["sealed"] and len(created["commitment"]) == 64
    for n, person in enumerate(eligible(sim.world, 3)):
        await resident(world.channel, f"s{n}", person)
        await apply(world, code, f"s{n}")
    await end_window(db, code, hub_clock)
    await world.staff.post(world.url(code, "/close"), expect=200)
    args = ("lottery", "files", "--city", world.city.slug, "--round", code, "--out", str(out))
    exit_code, output = await invoke(db.url, *args)
    assert exit_code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [
        f"{world.city.slug}-{code}-applicants.{ext}" for ext in ("csv", "json")
    ]
    drawn = await world.staff.post(
        world.url(code, "/draw"), json={"public_value": "3389.07"}, expect=200
    )
    assert hashlib.sha256(drawn["secret"].encode()).hexdigest() == created["commitment"]
    exit_code, output = await invoke(db.url, *args)
    assert exit_code == 0, output
    written = sorted(out.iterdir())
    assert len(written) == 5
    result = CliRunner().invoke(cli, ["lottery", "verify", *map(str, written)])
    assert result.exit_code == 0, result.output
    winners = [line for line in result.output.splitlines() if line.startswith("ok    winners")]
    assert winners == ["ok    winners: 1 winners, in the published order"] * 2  # JSON and CSV
