"""`cityhub lottery draw`: a closed round drawn from the shell, with a summary; the results
verify like the API's."""

from __future__ import annotations

from sqlalchemy import select

from cityhub.lottery.models import LotteryRound, RoundStatus
from cityhub.platform.clock import Clock
from cityhub.platform.db import Database
from tests.client import Api
from tests.lottery.factories import (
    SECRET,
    apply,
    create_round,
    eligible,
    end_window,
    lottery_world,
    resident,
)
from tests.outbox_helpers import invoke
from tests.simulators.fixtures import Sim


async def test_a_closed_round_is_drawn_from_the_shell(
    api: Api, db: Database, sim: Sim, hub_clock: Clock
) -> None:
    world = await lottery_world(db, api)
    code = (await create_round(world, quota=2))["code"]
    for n, person in enumerate(eligible(sim.world, 5)):
        await resident(world.channel, f"u{n}", person)
        await apply(world, code, f"u{n}")
    await end_window(db, code, hub_clock)
    args = ["lottery", "draw", "--city", world.city.slug, "--round", code]

    early = await invoke(db.url, *args, "--public-value", "3412.56", "--secret", SECRET)
    assert early[0] == 1 and "close the round" in early[1]
    await world.staff.post(world.url(code, "/close"), expect=200)
    wrong = await invoke(db.url, *args, "--public-value", "3412.56", "--secret", "not it")
    assert wrong[0] == 1 and "does not match the commitment" in wrong[1]

    done, output = await invoke(db.url, *args, "--public-value", "3412.56", "--secret", SECRET)
    assert done == 0, output
    assert f"round {code} of {world.city.slug} drawn: 5 applicant(s), 2 winner(s)" in output
    async with db.unit_of_work() as session:
        drawn = await session.scalar(select(LotteryRound).where(LotteryRound.code == code))
    assert drawn is not None and drawn.status == RoundStatus.DRAWN
    assert drawn.seed and f"seed {drawn.seed}" in output
