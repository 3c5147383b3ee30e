"""Closing a round: eligibility asked again of the provider for every applicant, the
ineligible excluded with its reason, tickets fixed by the rules, the list's hash published.

The provider is called once per applicant, so like a query the close runs in three steps
and holds no transaction while the provider thinks: `prepare_close`, `recheck` (no
session), `finish_close`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Eligibility, EligibilityChecker, Subject
from cityhub.identity import audit, residents
from cityhub.identity.pii import Vault
from cityhub.identity.purposes import Purpose
from cityhub.lottery import draw
from cityhub.lottery.models import ApplicationStatus, LotteryApplication, LotteryRound, RoundStatus
from cityhub.lottery.schemas import Rules
from cityhub.lottery.service import (
    audit_round,
    check_eligibility,
    eligibility_checker,
    failures_of,
    get_round_or_raise,
    service_of,
)
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict

if TYPE_CHECKING:
    from cityhub.cities.models import City

RECHECK_CONCURRENCY = 8  # below the guard's in-flight cap, so a close never trips it


@dataclass(frozen=True)
class PreparedClose:
    """A round whose window is over, with each applicant as the provider needs them."""

    round: LotteryRound
    checker: EligibilityChecker
    subjects: list[tuple[int, int, Subject]]  # application pk, resident id, subject


async def prepare_close(
    *, session: AsyncSession, vault: Vault, hub: ConnectorHub, city: City, code: str
) -> PreparedClose:
    """Every check before the close, and the applicants to re-check."""
    round_ = await get_round_or_raise(session=session, city_id=city.id, code=code)
    if round_.status != RoundStatus.OPEN:
        raise Conflict("the round is already closed", code="round_closed")
    if utcnow() < round_.closes_at:
        raise Conflict(
            f"applications are open until {round_.closes_at.isoformat()}; close after that",
            code="window_not_over",
        )
    service = await service_of(session=session, round_=round_)
    checker = await eligibility_checker(session=session, hub=hub, service=service)
    rows = (
        await session.execute(
            select(LotteryApplication.id, LotteryApplication.resident_id)
            .where(
                LotteryApplication.round_id == round_.id,
                LotteryApplication.status == ApplicationStatus.APPLIED,
            )
            .order_by(LotteryApplication.id)
        )
    ).all()
    numbers = await residents.encrypted_id_numbers(
        session=session, resident_ids=[rid for _pk, rid in rows]
    )
    subjects = [
        (pk, rid, Subject(id_number=vault.decrypt(numbers[rid])))
        for pk, rid in rows
        if rid in numbers
    ]
    return PreparedClose(round=round_, checker=checker, subjects=subjects)


async def recheck(prepared: PreparedClose) -> dict[int, Eligibility]:
    """Each applicant's eligibility now (no session: no lock is held while providers think)."""
    gate = asyncio.Semaphore(RECHECK_CONCURRENCY)
    kind = prepared.round.kind

    async def one(pk: int, subject: Subject) -> tuple[int, Eligibility]:
        async with gate:
            return pk, await check_eligibility(prepared.checker, kind=kind, subject=subject)

    found = await asyncio.gather(*(one(pk, subject) for pk, _rid, subject in prepared.subjects))
    return dict(found)


async def finish_close(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    prepared: PreparedClose,
    verdicts: dict[int, Eligibility],
) -> LotteryRound:
    """Exclude the ineligible, fix each applicant's tickets, publish the list's hash."""
    round_, now = prepared.round, utcnow()
    taken = await session.execute(
        update(LotteryRound)
        .where(LotteryRound.id == round_.id, LotteryRound.status == RoundStatus.OPEN)
        .values(status=RoundStatus.CLOSED, closed_at=now)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the round was closed meanwhile", code="round_closed")
    round_.status, round_.closed_at = RoundStatus.CLOSED, now
    service = await service_of(session=session, round_=round_)
    provider = audit.Actor.provider(service.provider, service.provider_names)
    for _pk, rid, _subject in prepared.subjects:
        await residents.record_access(
            session=session,
            resident_id=rid,
            actor=provider,
            purpose=Purpose.LOTTERY_RECHECK,
            args={"round": round_.code, "round_title": round_.title, "round_titles": round_.titles},
            fields="id_number (to check eligibility)",
            city_id=round_.city_id,
        )
    apps = list(
        (
            await session.scalars(
                select(LotteryApplication).where(
                    LotteryApplication.round_id == round_.id,
                    LotteryApplication.status == ApplicationStatus.APPLIED,
                )
            )
        ).all()
    )
    failures = await failures_of(session=session, round_=round_)
    rules = Rules.model_validate(round_.rules)
    listed, excluded = [], 0
    for app in apps:
        # An application that committed just as the window closed was checked moments ago
        # when it was made; it has no verdict here and stays in.
        verdict = verdicts.get(app.id)
        if verdict is not None and not verdict.eligible:
            app.status = ApplicationStatus.EXCLUDED
            app.excluded_reason = ("; ".join(verdict.reasons) or "not eligible")[:400]
            excluded += 1
            continue
        app.failures = failures.get(app.resident_id, 0)
        app.tickets = rules.tickets_for(app.failures)
        listed.append((app.application_id, app.tickets))
    ids, tickets = draw.sort_applicants(listed)
    round_.applicants_hash = draw.applicants_hash(ids, tickets)
    round_.applicant_count, round_.excluded_count = len(ids), excluded
    await session.flush()
    await audit_round(
        session,
        actor,
        round_,
        "close",
        applicants_hash=round_.applicants_hash,
        applicants=len(ids),
        excluded=excluded,
    )
    return round_
