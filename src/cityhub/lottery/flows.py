"""The lottery's use cases that ask a provider between two transactions, one function each,
called by the API, the portal, the console and the CLI alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.connectors.registry import ConnectorHub
from cityhub.identity import audit
from cityhub.identity.pii import Vault
from cityhub.lottery import applications, closing
from cityhub.lottery.models import LotteryApplication, LotteryRound
from cityhub.platform.uow import between_transactions, keep

if TYPE_CHECKING:
    from cityhub.cities.models import City


async def apply(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    actor: audit.Actor,
    city: City,
    code: str,
    channel_id: int,
    user_id: str,
) -> tuple[LotteryApplication, LotteryRound]:
    """Apply for a channel's verified user: checked, the provider asked for its verdict with
    no transaction open, the access put on record (it stands even when the answer is "not
    eligible"), then the application (422 `not_eligible` with the provider's reasons)."""
    prepared = await applications.prepare(
        session=session,
        vault=vault,
        hub=hub,
        city=city,
        code=code,
        channel_id=channel_id,
        user_id=user_id,
    )
    async with between_transactions(session):
        verdict = await applications.check(prepared)
    await applications.record_check(session=session, prepared=prepared, actor=actor)
    await keep(session)
    app = await applications.create(session=session, prepared=prepared, eligibility=verdict)
    return app, prepared.round


async def close(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    actor: audit.Actor,
    city: City,
    code: str,
) -> LotteryRound:
    """Close a round whose window is over: every applicant re-checked by the provider with no
    transaction open, the ineligible excluded, the list's hash published and audited."""
    prepared = await closing.prepare_close(
        session=session, vault=vault, hub=hub, city=city, code=code
    )
    async with between_transactions(session):
        verdicts = await closing.recheck(prepared)
    return await closing.finish_close(
        session=session, actor=actor, prepared=prepared, verdicts=verdicts
    )
