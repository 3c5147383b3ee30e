"""Subsidy claims per second through the hub, racing for one budget, against the fixed floor
of a booking attempt (the same shape: one conditional UPDATE on a limited thing, and the rows
of a success in the same transaction).

On two fresh PostgreSQL databases of the server of `$CITYHUB_BENCH_POSTGRES_URL` (created,
then dropped):

1. the hub's: a city, three channels granted a biller, `--people` verified people, each known
   to every channel (linked with proof: one resident record per person), and a campaign of
   `--vouchers` vouchers of 5 yuan with a quota per channel of 40 % of them (so that no
   channel exhausts it alone), one per person; a warm-up campaign of 100;
2. timed: `cityhub serve` straight on PostgreSQL and `--clients` wrk clients (one connection
   each) sending `--claims` claims (`POST .../subsidies/<campaign>/claims` with an
   Idempotency-Key), every person claiming twice through two different channels, in a
   shuffled order -> claims/s (those answered 201 or 409: an error is not an answer), p50/p99;
3. checked from the database: exactly `--vouchers` claims, nobody twice, the budget exact to
   the fen (left + what the claims hold = budget, left = 0), no quota below zero;
4. the reference's: `book_take.sql` (on `pay_schema.sql`, `book_schema.sql`,
   `book_reset.sql`) by pgbench with as many clients and about as many attempts, before and
   after the hub's run; the higher rate is the reference.

The last line is one JSON object: value = the hub's claims/s, reference = pgbench's attempts/s,
ratio = value / reference, target 0.12 as for booking (higher is better).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from support import fresh_databases, load_average, loadgen, reference, report
from support import hub as hub_module
from support.hub import Hub

from cityhub import migrations
from cityhub.platform.db import Database, utcnow

TARGET = 0.12
VOUCHER_FEN = 500
CHANNELS = 3
WARM_VOUCHERS, WARM_CLAIMS = 100, 300


@dataclass
class World:
    city: str
    logins: list[tuple[str, str]]  # (client id, secret) per channel
    users: list[str]


async def prepare(url: str, people: int, vouchers: int) -> World:
    """Migrate; a city, three channels granted a biller, the people, and the campaigns."""
    from tests.appointments.factories import verified_users
    from tests.cities.factories import create_city, create_grant
    from tests.connectors.factories import connected_service
    from tests.identity.factories import SECRET, create_channel

    from cityhub.identity import audit
    from cityhub.identity.enums import LinkProof
    from cityhub.identity.models import ChannelUser
    from cityhub.subsidies import service
    from cityhub.subsidies.schemas import CampaignCreate

    db = Database(url)
    try:
        await migrations.upgrade(db)
        city = await create_city(db, slug="bench")
        water = await connected_service(
            db, city=city, code="water", connector="simulator:water",
            config={"provider_id": "bench-water"},
        )  # fmt: skip
        logins = [await create_channel(db, slug=f"bench-app-{n}") for n in range(CHANNELS)]
        for login in logins:
            await create_grant(db, channel=login.channel, service=water)
        users = await verified_users(db, logins[0], people)
        async with db.unit_of_work() as session:
            ids = dict((await session.execute(
                select(ChannelUser.channel_user_id, ChannelUser.resident_id).where(
                    ChannelUser.channel_id == logins[0].channel.id)
            )).all())  # fmt: skip
            await session.execute(insert(ChannelUser), [
                {"channel_id": login.channel.id, "channel_user_id": u, "resident_id": ids[u],
                 "link_proof": LinkProof.SMS_CODE, "created_at": utcnow()}
                for login in logins[1:] for u in users
            ])  # fmt: skip
            now = utcnow()
            for code, count in (("warm-up", WARM_VOUCHERS), ("winter", vouchers)):
                quota = VOUCHER_FEN * max(1, count * 2 // 5)
                await service.create(session=session, city_id=city.id, actor=audit.Actor.system(),
                    campaign_in=CampaignCreate.model_validate({
                        "code": code, "name": code, "budget_fen": VOUCHER_FEN * count,
                        "benefit_kind": "voucher", "benefit_value": VOUCHER_FEN,
                        "starts_at": now - dt.timedelta(minutes=1),
                        "ends_at": now + dt.timedelta(days=1),
                        "quotas": [{"channel": lg.channel.slug, "quota_fen": quota}
                                   for lg in logins],
                    }))  # fmt: skip
        return World(city.slug, [(lg.client_id, SECRET) for lg in logins], users)
    finally:
        await db.dispose()


def deal(users: list[str], claims: int, clients: int, tag: str) -> list[list[tuple[str, str, str]]]:
    """Each person's claims through distinct channels, shuffled, dealt to the clients in turn."""
    rng = random.Random(11)
    per_person = -(-claims // len(users))
    attempts = []
    for user in users:
        for channel in rng.sample(range(CHANNELS), min(per_person, CHANNELS)):
            attempts.append((user, str(channel), f"{tag}-{user}-{channel}"))
    rng.shuffle(attempts)
    plans: list[list[tuple[str, str, str]]] = [[] for _ in range(clients)]
    for n, attempt in enumerate(attempts[:claims]):
        plans[n % clients].append(attempt)
    return plans


def claim_run(hub: Hub, folder: Path, world: World, tokens: list[str], campaign: str,
              plans: list[list[tuple[str, str, str]]]) -> loadgen.Run:  # fmt: skip
    """Each plan played by one client."""
    folder.mkdir(parents=True, exist_ok=True)
    loadgen.write_plans(folder, plans)
    options: dict[str, str | int] = {"city": world.city, "campaign": campaign}
    options |= {f"token{n}": t for n, t in enumerate(tokens)}
    return loadgen.run(hub.base_url, "claim", len(plans), options, folder=folder)


@dataclass
class Outcome:
    claims: int
    people: int
    budget_fen: int
    left_fen: int
    held_fen: int
    quotas_left: list[int]

    def exact(self, vouchers: int) -> bool:
        return (
            self.claims == self.people == vouchers
            and self.left_fen == 0
            and self.budget_fen == self.left_fen + self.held_fen == vouchers * VOUCHER_FEN
            and min(self.quotas_left) >= 0
        )


async def outcome(url: str, code: str) -> Outcome:
    """What the run left in the database."""
    from cityhub.subsidies.models import Campaign, ChannelQuota, Claim

    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            campaign = await session.scalar(select(Campaign).where(Campaign.code == code))
            assert campaign is not None
            mine = Claim.campaign_id == campaign.id
            count, people, held = (await session.execute(
                select(func.count(), func.count(func.distinct(Claim.resident_id)),
                       func.coalesce(func.sum(Claim.reserved_fen), 0)).where(mine)
            )).one()  # fmt: skip
            quotas = await session.scalars(
                select(ChannelQuota.left_fen).where(ChannelQuota.campaign_id == campaign.id)
            )
            return Outcome(int(count), int(people), campaign.budget_fen, campaign.left_fen,
                           int(held), [int(q) for q in quotas])  # fmt: skip
    finally:
        await db.dispose()


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Every run of the bench, on its two fresh databases."""
    take, reset = reference.script("book_take.sql"), reference.script("book_reset.sql")
    schemas = [reference.script(n) for n in ("pay_schema.sql", "book_schema.sql", "book_reset.sql")]
    names = [f"cityhub_bench_subsidy_{os.getpid()}", f"cityhub_bench_subsidy_ref_{os.getpid()}"]
    per_client = -(-args.claims // args.clients)
    with fresh_databases(*names) as (url, ref_url):
        world = asyncio.run(prepare(url, args.people, args.vouchers))
        reference.load(ref_url, *schemas)
        ref_before = reference.pgbench(ref_url, take, args.clients, transactions=per_client)
        with Hub(url, folder, workers=args.workers) as hub:
            tokens = [hub.token(client, secret) for client, secret in world.logins]
            warm = deal(world.users[: WARM_CLAIMS // 2], WARM_CLAIMS, args.clients, "warm")
            claim_run(hub, folder / "warm", world, tokens, "warm-up", warm)
            plans = deal(world.users, args.claims, args.clients, "run")
            spent = hub_module.timed(
                hub, names[0],
                lambda: claim_run(hub, folder / "run", world, tokens, "winter", plans),
            )  # fmt: skip
        reference.load(ref_url, reset)
        ref_after = reference.pgbench(ref_url, take, args.clients, transactions=per_client)
        left = asyncio.run(outcome(url, "winter"))
    return {"take": take, "spent": spent, "refs": (ref_before, ref_after), "left": left,
            "per_client": per_client}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="hub processes (cityhub serve --workers)")  # fmt: skip
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--vouchers", type=int, default=1_000)
    args = parser.parse_args()
    started_load = load_average()
    m = measure(args, Path(tempfile.mkdtemp(prefix="cityhub-bench-subsidy-")))
    run: loadgen.Run = m["spent"].result
    left: Outcome = m["left"]
    made = len(run.records)
    if made < args.claims:
        print(f"warning: the clients reached the time limit after {made} of {args.claims} claims")
    value = len(loadgen.served(run.records)) / run.elapsed  # claims answered 201 or 409
    ref = max(m["refs"], key=lambda r: r.per_second)
    answers = loadgen.statuses(run.records)
    won = answers.get("201", 0)
    p99 = loadgen.latency_ms(run.records, 0.99)
    report.machine(started_load)
    print(f"{made} claims by {args.people} people through {CHANNELS} channels, {args.clients} "
          f"clients ({args.workers} hub process(es)), for {args.vouchers} vouchers in "
          f"{run.elapsed:.1f} s: {answers}; wrk socket errors: {run.socket_errors}")  # fmt: skip
    print(f"hub:       {value:.1f} claims/s, {won / run.elapsed:.1f} won/s; p50 "
          f"{loadgen.latency_ms(run.records, 0.5):.1f} ms, p99 {p99:.1f} ms")  # fmt: skip
    for when, r in zip(("before the hub's run", "after the hub's run"), m["refs"], strict=True):
        print(r.line("attempts/s", when, m["take"].name, f" x {m['per_client']}"))
    report.per_operation(
        "claim", made, m["spent"].hub_cpu, m["spent"].server_cpu, run.client_cpu, ref.cpu
    )
    report.load_generator(run.client_cpu, run.elapsed)
    print(f"not served (errors, shed, refused tokens): {made - len(loadgen.served(run.records))}")
    fine = left.exact(args.vouchers) and won == args.vouchers
    print(f"after: {won} answered claimed, {left.claims} claims by {left.people} people, budget "
          f"{left.budget_fen} = left {left.left_fen} + held {left.held_fen}; quotas left "
          f"{left.quotas_left}: {'ok' if fine else 'WRONG'}")  # fmt: skip
    report.result({
        "name": "subsidy_claims_per_second", "value": value, "unit": "claims/s",
        "reference": ref.per_second, "ratio": value / ref.per_second, "target": TARGET,
        "higher_is_better": True, "reference_script": reference.label(m["take"]),
    })  # fmt: skip
    if not fine:
        raise SystemExit("the claims do not add up: answers, claims, people and budget differ")


if __name__ == "__main__":
    main()
