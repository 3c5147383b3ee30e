"""Applications: one per verified person per round, withdrawable until the window closes.

Applying asks the eligibility provider, so it runs in steps like a query: `prepare` (every
check the hub can make itself), `check` (the provider; no session), `record_check` (the
resident's data-access log) and `create`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Eligibility, EligibilityChecker, Subject
from cityhub.identity import audit, linking, residents
from cityhub.identity.pii import Vault
from cityhub.identity.purposes import Purpose
from cityhub.lottery import draw
from cityhub.lottery import service as rounds
from cityhub.lottery.models import ApplicationStatus, LotteryApplication, LotteryRound, RoundStatus
from cityhub.lottery.schemas import Rules, ScoreRead
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service
    from cityhub.identity.models import Channel


@dataclass(frozen=True)
class PreparedApplication:
    """An application that passed the hub's own checks, ready for the provider's."""

    round: LotteryRound
    service: Service
    resident_id: int
    channel_id: int
    subject: Subject
    checker: EligibilityChecker


def require_accepting(round_: LotteryRound) -> None:
    """Conflict unless applications are open now (the window decides, not the status alone)."""
    now = utcnow()
    if round_.status != RoundStatus.OPEN or now >= round_.closes_at:
        raise Conflict(
            f"applications to round {round_.code!r} closed at {round_.closes_at.isoformat()}",
            code="round_closed",
        )
    if now < round_.opens_at:
        raise Conflict(
            f"applications to round {round_.code!r} open at {round_.opens_at.isoformat()}",
            code="round_not_open",
        )


async def _existing(
    session: AsyncSession, round_id: int, resident_id: int
) -> LotteryApplication | None:
    return await session.scalar(
        select(LotteryApplication).where(
            LotteryApplication.round_id == round_id,
            LotteryApplication.resident_id == resident_id,
        )
    )


def _refuse_double(app: LotteryApplication | None) -> None:
    if app is not None and app.status != ApplicationStatus.WITHDRAWN:
        raise Conflict(
            "this person has already applied to this round",
            code="already_applied",
            field="user_id",
            application_id=app.application_id,
        )


async def prepare(
    *,
    session: AsyncSession,
    vault: Vault,
    hub: ConnectorHub,
    city: City,
    code: str,
    channel_id: int,
    user_id: str,
) -> PreparedApplication:
    """Every check the hub makes before asking the provider."""
    round_ = await rounds.get_round_or_raise(session=session, city_id=city.id, code=code)
    service = await rounds.service_of(session=session, round_=round_)
    await cities.require_service_granted(session=session, channel_id=channel_id, service=service)
    require_accepting(round_)
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    resident = found.resident
    residents.require_level(
        resident, service.required_level, user_id=user_id, why="a real-name lottery"
    )
    _refuse_double(await _existing(session, round_.id, resident.id))
    checker = await rounds.eligibility_checker(session=session, hub=hub, service=service)
    subject = Subject(
        id_number=residents.id_number_or_raise(vault, resident, user_id=user_id),
        name=vault.decrypt(resident.name_enc) if resident.name_enc else None,
    )
    return PreparedApplication(round_, service, resident.id, channel_id, subject, checker)


async def check(prepared: PreparedApplication) -> Eligibility:
    """The provider's verdict on the applicant."""
    return await rounds.check_eligibility(
        prepared.checker, kind=prepared.round.kind, subject=prepared.subject
    )


async def record_check(
    *, session: AsyncSession, prepared: PreparedApplication, actor: audit.Actor
) -> None:
    """Note that the provider was sent the resident's identity, eligible or not."""
    service = prepared.service
    await residents.record_access(
        session=session,
        resident_id=prepared.resident_id,
        actor=audit.Actor.provider(service.provider, service.provider_names),
        purpose=Purpose.LOTTERY_CHECK,
        args={
            "round": prepared.round.code,
            "round_title": prepared.round.title,
            "round_titles": prepared.round.titles,
            "via": actor.id,
            "via_names": actor.names or {},
        },
        fields="id_number, name (to check eligibility)",
        city_id=prepared.round.city_id,
    )


async def create(
    *, session: AsyncSession, prepared: PreparedApplication, eligibility: Eligibility
) -> LotteryApplication:
    """The application, or 422 with the provider's reasons when the person is not eligible."""
    if not eligibility.eligible:
        reasons = eligibility.reasons or ["the provider gave no reason"]
        raise Unprocessable(
            "not eligible: " + "; ".join(reasons),
            code="not_eligible",
            field="user_id",
            reasons=reasons,
            reason_texts=eligibility.reason_texts[: len(reasons)],
        )
    round_ = await session.get(LotteryRound, prepared.round.id, populate_existing=True)
    assert round_ is not None
    require_accepting(round_)  # the window may have closed while the provider answered
    existing = await _existing(session, round_.id, prepared.resident_id)
    _refuse_double(existing)
    failures = (
        await rounds.failures_of(
            session=session, round_=round_, resident_ids=[prepared.resident_id]
        )
    ).get(prepared.resident_id, 0)
    app = existing or LotteryApplication(
        city_id=round_.city_id,
        round_id=round_.id,
        service_id=round_.service_id,
        application_id=secrets.token_hex(8),
        resident_id=prepared.resident_id,
    )
    app.channel_id = prepared.channel_id
    app.status = ApplicationStatus.APPLIED
    app.failures = failures
    app.tickets = Rules.model_validate(round_.rules).tickets_for(failures)
    app.applied_at, app.withdrawn_at = utcnow(), None
    session.add(app)
    await session.flush()
    return app


async def get_for_user_or_raise(
    *, session: AsyncSession, city: City, code: str, channel_id: int, user_id: str
) -> tuple[LotteryApplication, LotteryRound]:
    """The channel user's application to a round, or NotFound."""
    round_ = await rounds.get_round_or_raise(session=session, city_id=city.id, code=code)
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    app = await _existing(session, round_.id, found.resident.id)
    if app is None:
        raise NotFound(f"{user_id!r} has not applied to this round", code="application_not_found")
    return app, round_


async def withdraw(
    *, session: AsyncSession, city: City, code: str, channel: Channel, user_id: str
) -> tuple[LotteryApplication, LotteryRound]:
    """Withdraw the user's application (again: no change) while the window is open. One
    filed through another channel is withdrawn only for a user linked to the person with
    proof; it is audited and the filing channel is told."""
    round_ = await rounds.get_round_or_raise(session=session, city_id=city.id, code=code)
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel.id, user_id=user_id
    )
    app = await _existing(session, round_.id, found.resident.id)
    if app is None:
        raise NotFound(f"{user_id!r} has not applied to this round", code="application_not_found")
    if app.status == ApplicationStatus.WITHDRAWN:
        return app, round_
    require_accepting(round_)
    await linking.cross_channel(
        session=session,
        channel=channel,
        found=found,
        filed_by_channel_id=app.channel_id,
        action="withdrawn",
        object_type="lottery_application",
        object_id=app.application_id,
        city_id=city.id,
    )
    app.status, app.withdrawn_at = ApplicationStatus.WITHDRAWN, utcnow()
    return app, round_


async def score_of(
    *, session: AsyncSession, city: City, code: str, application_id: str
) -> ScoreRead:
    """One published application's tickets and scores, recomputed from the round's seed."""
    round_ = await rounds.get_round_or_raise(session=session, city_id=city.id, code=code)
    app = await session.scalar(
        select(LotteryApplication).where(
            LotteryApplication.round_id == round_.id,
            LotteryApplication.application_id == application_id,
            LotteryApplication.status.in_((ApplicationStatus.WON, ApplicationStatus.LOST)),
        )
    )
    if round_.status != RoundStatus.PUBLISHED or app is None or round_.seed is None:
        raise NotFound(
            f"no published result for application {application_id!r} in this round",
            code="result_not_found",
        )
    scores = draw.Scorer(bytes.fromhex(round_.seed)).tickets(app.application_id, app.tickets)
    return ScoreRead(
        application_id=app.application_id,
        round=round_.code,
        tickets=app.tickets,
        ticket_scores=[s.hex() for s in scores],
        score=min(scores).hex(),
        won=app.status == ApplicationStatus.WON,
        position=app.position,
        seed=round_.seed,
    )
