"""Subsidy factories: a payment world with three channels granted the billers, people
verified on the first and linked with proof on the others, and a campaign made by staff."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from cityhub.identity.enums import LinkProof
from cityhub.identity.models import ChannelUser
from cityhub.platform.db import Database, utcnow
from cityhub.subsidies.models import Campaign, Claim
from tests.appointments.factories import verified_users
from tests.billing.factories import PayWorld, pay_world
from tests.cities.factories import create_grant
from tests.client import Api
from tests.identity.factories import ChannelLogin, create_channel
from tests.simulators.fixtures import Sim

_keys = itertools.count(1)


@dataclass
class SubsidyWorld:
    pay: PayWorld
    logins: list[ChannelLogin]
    channels: list[Api]  # channel 0 is the payment world's own
    admin: Api

    def url(self, path: str = "") -> str:
        return self.pay.url(path)

    async def campaign(self, expect: int = 201, **fields: Any) -> Any:
        """A campaign made by the city's admin: a voucher of 500 fen, 10 of them, open now."""
        now = utcnow()
        body = {
            "code": f"c-{next(_keys)}", "name": "Winter help", "budget_fen": 5000,
            "benefit_kind": "voucher", "benefit_value": 500,
            "starts_at": (now - dt.timedelta(minutes=1)).isoformat(),
            "ends_at": (now + dt.timedelta(days=30)).isoformat(), **fields,
        }  # fmt: skip
        return await self.admin.post(self.url("/subsidies"), json=body, expect=expect)

    async def claim(self, code: str, user: str, channel: int = 0, expect: int = 201) -> Any:
        """The user claims the campaign through a channel."""
        return await self.channels[channel].post(
            self.url(f"/subsidies/{code}/claims"), json={"user_id": user},
            headers={"Idempotency-Key": f"claim-{next(_keys)}"}, expect=expect,
        )  # fmt: skip


async def subsidy_world(db: Database, api: Api, sim: Sim, channels: int = 3) -> SubsidyWorld:
    """A payment world with `channels` channels, each granted every biller."""
    pay = await pay_world(db, api, sim)
    logins, apis = [pay.login], [pay.channel]
    for _ in range(channels - 1):
        login = await create_channel(db)
        for service in pay.services.values():
            await create_grant(db, channel=login.channel, service=service)
        logins.append(login)
        apis.append(await api.as_channel(login.client_id, login.secret))
    return SubsidyWorld(pay, logins, apis, await pay.staff())


async def people(
    world: SubsidyWorld, count: int, proof: LinkProof = LinkProof.SMS_CODE
) -> list[str]:
    """`count` verified people of channel 0 (`u<id>`), linked with `proof` on every other
    channel under the same user id: one resident record each."""
    users = await verified_users(world.pay.db, world.logins[0], count)
    async with world.pay.db.unit_of_work() as session:
        ids = dict(
            (
                await session.execute(
                    select(ChannelUser.channel_user_id, ChannelUser.resident_id).where(
                        ChannelUser.channel_user_id.in_(users),
                        ChannelUser.channel_id == world.logins[0].channel.id,
                    )
                )
            ).all()
        )
        rows = [
            {"channel_id": login.channel.id, "channel_user_id": u, "resident_id": ids[u],
             "link_proof": proof, "created_at": utcnow()}
            for login in world.logins[1:] for u in users
        ]  # fmt: skip
        if rows:
            await session.execute(insert(ChannelUser), rows)
    return users


async def campaign_row(db: Database, code: str) -> Campaign:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Campaign).where(Campaign.code == code))
    assert found is not None
    return found


async def claim_rows(db: Database) -> list[Claim]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(Claim).order_by(Claim.id))).all())


async def resident_of(world: SubsidyWorld, id_number: str, user: str) -> str:
    """A verified resident with this identity number (a person of the simulated world), known
    to channel 0 as `user`."""
    from cityhub.identity.models import Resident
    from cityhub.identity.pii import mask_id_number
    from tests.identity.factories import vault

    v = vault()
    async with world.pay.db.unit_of_work() as session:
        resident = Resident(
            id_number_enc=v.encrypt(id_number), id_number_hash=v.lookup_hash("id", id_number),
            id_number_masked=mask_id_number(id_number), verified_at=utcnow(),
            identity_level="channel_asserted", name_enc=v.encrypt("居民"),
        )  # fmt: skip
        session.add(resident)
        await session.flush()
        session.add(
            ChannelUser(
                channel_id=world.logins[0].channel.id, channel_user_id=user,
                resident_id=resident.id,
            )
        )  # fmt: skip
    return user
