"""Subsidy campaigns: claimed once per person across channels, never beyond the budget or a
channel's quota (under a real race), used at payment as their own postings, given back by a
refund exactly once, expired back to the budget, stopped."""

from __future__ import annotations

import asyncio
from collections import Counter

from cityhub.platform.clock import Clock
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.subsidies import claims
from cityhub.subsidies.models import ClaimStatus
from tests.billing.factories import ledger_ok
from tests.client import Api
from tests.outbox_helpers import drain
from tests.simulators.fixtures import Sim
from tests.subsidies.factories import (
    campaign_row,
    claim_rows,
    people,
    subsidy_world,
)


def _budget_exact(campaign: object, rows: list[object]) -> bool:
    live = sum(r.reserved_fen for r in rows if r.status in claims.LIVE)  # type: ignore[attr-defined]
    return campaign.budget_fen == campaign.left_fen + live  # type: ignore[attr-defined]


async def test_one_person_claims_once_whichever_channel_they_use(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await subsidy_world(db, api, sim)
    [user] = await people(world, 1)
    code = (await world.campaign())["code"]
    first = await world.claim(code, user, channel=1)
    assert (first["status"], first["reserved_fen"], first["campaign"]) == ("reserved", 500, code)
    for channel in (0, 1, 2):
        problem = await world.claim(code, user, channel=channel, expect=409)
        assert (problem["code"], problem["field"]) == ("subsidy_already_claimed", "user_id")
    listed = await world.channels[2].get(world.url("/subsidy-claims"), params={"user_id": user})
    assert [c["id"] for c in listed["items"]] == [first["id"]]
    assert (await campaign_row(db, code)).left_fen == 4500


async def test_a_link_without_proof_does_not_claim(api: Api, db: Database, sim: Sim) -> None:
    from cityhub.identity.enums import LinkProof

    world = await subsidy_world(db, api, sim, channels=2)
    [user] = await people(world, 1, proof=LinkProof.LEGACY)
    code = (await world.campaign())["code"]
    problem = await world.claim(code, user, channel=1, expect=403)
    assert problem["code"] == "link_not_proven"
    assert (await campaign_row(db, code)).left_fen == 5000


async def test_concurrent_claims_take_exactly_the_budget_and_the_quota(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await subsidy_world(db, api, sim)
    users = await people(world, 30)
    made = await world.campaign(
        quotas=[{"channel": world.logins[2].channel.slug, "quota_fen": 1500}]
    )
    code = made["code"]

    async def claim(user: str, channel: int) -> tuple[str, int, int]:
        answer = await world.channels[channel].client.post(
            world.url(f"/subsidies/{code}/claims"), json={"user_id": user},
            headers={**world.channels[channel].headers, "Idempotency-Key": f"{user}-{channel}"},
        )  # fmt: skip
        return user, channel, answer.status_code

    # Every person claims twice at once, through two channels; channel 2 is in every pair.
    attempts = [claim(u, c) for n, u in enumerate(users) for c in (n % 2, 2)]
    answers = await asyncio.gather(*attempts)
    won = [(u, c) for u, c, status in answers if status == 201]
    assert Counter(status for *_, status in answers) == {201: 10, 409: 50}
    assert len({u for u, _ in won}) == 10  # nobody twice
    assert sum(1 for _, c in won if c == 2) <= 3  # channel 2's quota: three vouchers
    rows = await claim_rows(db)
    row = await campaign_row(db, code)
    assert (len(rows), row.left_fen) == (10, 0)
    assert _budget_exact(row, rows)
    quota = (await world.admin.get(world.url(f"/subsidies/{code}")))["quotas"][0]
    assert quota["left_fen"] == 1500 - 500 * sum(1 for _, c in won if c == 2)
    figures = await world.admin.get(world.url(f"/subsidies/{code}/figures"))
    assert (figures["claims"], figures["claimed_fen"], figures["left_fen"]) == (10, 5000, 0)
    assert sum(f["claims"] for f in figures["by_channel"]) == 10


async def test_a_claim_lowers_the_payment_and_a_refund_gives_it_back_exactly_once(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await subsidy_world(db, api, sim)
    [user] = await people(world, 1)
    code = (await world.campaign(applies_to={"services": ["water"]}))["code"]
    claim = await world.claim(code, user, channel=1)  # claimed in one app, used in another
    pay = world.pay
    [power] = pay.unpaid("power")
    await pay.look_up(power)
    problem = await pay.quote(power, user_id=user, subsidy_claim=claim["id"], expect=422)
    assert problem["code"] == "subsidy_not_applicable"
    [bill] = pay.unpaid("water")
    await pay.look_up(bill)
    quote = await pay.quote(bill, user_id=user, subsidy_claim=claim["id"])
    assert (quote["total_fen"], quote["subsidy_fen"]) == (bill.amount_fen - 500, 500)
    [other] = pay.unpaid("water")
    await pay.look_up(other)
    problem = await pay.quote(other, user_id=user, subsidy_claim=claim["id"], expect=409)
    assert problem["code"] == "subsidy_claim_unavailable"  # held by the first quote
    await pay.confirm(quote)
    await drain(db, settings)
    assert (await pay.get(quote["id"]))["status"] == "completed"
    lines = await world.admin.get(world.url(f"/subsidies/{code}/settlement"))
    assert [(x["channel"], x["payments"], x["subsidy_fen"]) for x in lines["items"]] == [
        (world.logins[0].channel.slug, 1, 500)
    ]
    await ledger_ok(db)

    url = world.url(f"/payments/{quote['id']}/refunds")
    body = {"currency": "CNY", "reason": "moved out"}
    part = await world.admin.post(
        url, json={**body, "amount_fen": bill.amount_fen - 100}, expect=422
    )
    assert part["code"] == "refund_splits_subsidy"
    refunds = await asyncio.gather(
        *[
            world.admin.client.post(url, json={**body, "amount_fen": bill.amount_fen},
                                    headers=world.admin.headers)
            for _ in range(5)
        ]
    )  # fmt: skip
    done = [r.json() for r in refunds if r.status_code == 201]
    assert len(done) == 1 and done[0]["total_fen"] == bill.amount_fen - 500
    [row] = await claim_rows(db)
    assert (row.status, row.payment_public_id, row.reserved_fen) == (
        ClaimStatus.RESERVED,
        None,
        500,
    )
    assert (await world.admin.get(world.url(f"/subsidies/{code}/settlement")))["items"] == []
    await ledger_ok(db)
    # The benefit is the person's again: a new payment takes it.
    again = await pay.quote(other, user_id=user, subsidy_claim=claim["id"])
    assert again["subsidy_fen"] == 500


async def test_a_percentage_holds_its_cap_and_returns_what_it_did_not_take(
    api: Api, db: Database, sim: Sim, settings: Settings
) -> None:
    world = await subsidy_world(db, api, sim, channels=1)
    [user] = await people(world, 1)
    made = await world.campaign(
        benefit_kind="percent", benefit_value=1000, cap_fen=100_000, budget_fen=1_000_000
    )
    code = made["code"]
    claim = await world.claim(code, user)
    assert claim["reserved_fen"] == 100_000
    assert (await campaign_row(db, code)).left_fen == 900_000
    [bill] = world.pay.unpaid("water")
    await world.pay.look_up(bill)
    quote = await world.pay.quote(bill, user_id=user, subsidy_claim=claim["id"])
    assert quote["subsidy_fen"] == bill.amount_fen * 1000 // 10_000
    await world.pay.confirm(quote)
    row = await campaign_row(db, code)
    [claimed] = await claim_rows(db)
    assert claimed.reserved_fen == quote["subsidy_fen"]
    assert row.left_fen == row.budget_fen - quote["subsidy_fen"]
    await ledger_ok(db)


async def test_unused_claims_expire_back_to_the_budget_and_a_stop_refuses_claims(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await subsidy_world(db, api, sim, channels=1)
    first, second = await people(world, 2)
    code = (await world.campaign(hold_seconds=600))["code"]
    await world.claim(code, first)
    assert (await campaign_row(db, code)).left_fen == 4500
    hub_clock.advance(seconds=601)
    async with db.unit_of_work() as session:
        campaign = await campaign_row(db, code)
        assert (
            await claims.expire(session=session, city_id=campaign.city_id, now=hub_clock.now()) == 1
        )
    async with db.unit_of_work() as session:
        assert (
            await claims.expire(session=session, city_id=campaign.city_id, now=hub_clock.now()) == 0
        )
    assert (await campaign_row(db, code)).left_fen == 5000
    again = await world.claim(code, first)  # the number it let go of is free again
    await world.claim(code, second)
    stopped = await world.admin.post(world.url(f"/subsidies/{code}/stop"), json={}, expect=200)
    assert (stopped["status"], stopped["left_fen"]) == ("stopped", 5000)
    problem = await world.claim(code, first, expect=409)
    assert problem["code"] == "subsidy_campaign_stopped"
    rows = await claim_rows(db)
    assert {r.status for r in rows} == {ClaimStatus.EXPIRED} and again["id"] in {
        r.public_id for r in rows
    }


async def test_only_the_city_admin_makes_campaigns_and_bad_ones_are_422(
    api: Api, db: Database, sim: Sim
) -> None:
    world = await subsidy_world(db, api, sim, channels=1)
    problem = await world.campaign(benefit_kind="percent", benefit_value=500, expect=422)
    assert "cap_fen" in str(problem)
    problem = await world.campaign(ends_at="2020-01-01T00:00:00+08:00", expect=422)
    assert problem["status"] == 422
    code = (await world.campaign())["code"]
    refused = await world.channels[0].post(world.url("/subsidies"), json={}, expect=401)
    assert refused["code"] == "not_signed_in"  # campaigns are staff work
    await world.campaign(code=code, expect=409)
