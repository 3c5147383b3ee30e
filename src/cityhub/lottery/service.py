"""Lottery rounds: creation with a commitment, the draw (secret revealed, public value
entered), publication and the published files.

The close lives in `closing.py`, applications in `applications.py`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    case,
    func,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.cities import service as cities
from cityhub.cities.enums import ServiceKind, ServiceStatus
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import Eligibility, EligibilityChecker, Subject
from cityhub.identity import audit
from cityhub.identity.pii import Vault
from cityhub.lottery import draw
from cityhub.lottery.models import ApplicationStatus, LotteryApplication, LotteryRound, RoundStatus
from cityhub.lottery.publish import ApplicantList, Results, RoundInfo
from cityhub.lottery.schemas import DrawCreate, RoundCreate
from cityhub.platform import timeline
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, NotFound, Unavailable, Unprocessable
from cityhub.platform.progress import NO_PROGRESS, Progress
from cityhub.platform.texts import translations

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

IN_LIST = (ApplicationStatus.APPLIED, ApplicationStatus.WON, ApplicationStatus.LOST)
DRAWN = (RoundStatus.DRAWN, RoundStatus.PUBLISHED)
DRAW_STEPS = 3  # what a draw tells its progress in


def phase(round_: LotteryRound, now: dt.datetime | None = None) -> str:
    """Where the round stands: upcoming, accepting, awaiting_close, closed, drawn, published."""
    if round_.status != RoundStatus.OPEN:
        return round_.status.value
    now = now or utcnow()
    if now < round_.opens_at:
        return "upcoming"
    return "accepting" if now < round_.closes_at else "awaiting_close"


async def get_round_or_raise(*, session: AsyncSession, city_id: int, code: str) -> LotteryRound:
    """A city's round by code, or NotFound."""
    found = await session.scalar(
        select(LotteryRound).where(LotteryRound.city_id == city_id, LotteryRound.code == code)
    )
    if found is None:
        raise NotFound(f"no lottery round {code!r} in this city", code="round_not_found")
    return found


async def get_all_rounds(
    *, session: AsyncSession, city_id: int, after: int | None, limit: int
) -> list[LotteryRound]:
    """A city's rounds in creation order."""
    query = (
        select(LotteryRound)
        .where(LotteryRound.city_id == city_id)
        .order_by(LotteryRound.id)
        .limit(limit)
    )
    if after:
        query = query.where(LotteryRound.id > after)
    return list((await session.scalars(query)).all())


async def service_of(*, session: AsyncSession, round_: LotteryRound) -> Service:
    """The lottery service a round belongs to."""
    found = await cities.get_service(
        session=session, city_id=round_.city_id, service_id=round_.service_id
    )
    assert found is not None  # a foreign key
    return found


async def create_round(
    *, session: AsyncSession, vault: Vault, actor: audit.Actor, city: City, round_in: RoundCreate
) -> LotteryRound:
    """A new round, its commitment published from the start (the hub's own sealed secret
    when the city gave no commitment)."""
    service = await cities.get_service_or_raise(
        session=session, city_id=city.id, code=round_in.service
    )
    if service.kind != ServiceKind.LOTTERY:
        raise Unprocessable(
            f"service {service.code!r} is not a lottery", code="not_a_lottery", field="service"
        )
    if round_in.closes_at <= utcnow():
        raise Unprocessable("closes_at is in the past", code="window_over", field="closes_at")
    if await session.scalar(
        select(LotteryRound.id).where(
            LotteryRound.city_id == city.id, LotteryRound.code == round_in.code
        )
    ):
        raise Conflict(f"round {round_in.code!r} exists", code="round_exists", field="code")
    sealed = None
    commitment = round_in.commitment
    if commitment is None:
        secret = secrets.token_hex(32)
        sealed, commitment = vault.encrypt(secret), draw.commitment_of(secret)
    round_ = LotteryRound(
        city_id=city.id,
        code=round_in.code,
        service_id=service.id,
        kind=round_in.kind,
        title=round_in.title,
        titles=translations(round_in.titles),
        opens_at=round_in.opens_at,
        closes_at=round_in.closes_at,
        quota=round_in.quota,
        rules=round_in.rules.model_dump(),
        status=RoundStatus.OPEN,
        commitment=commitment,
        sealed_secret=sealed,
    )
    session.add(round_)
    await session.flush()
    await audit_round(session, actor, round_, "create", commitment=commitment, quota=round_.quota)
    return round_


async def audit_round(
    session: AsyncSession, actor: audit.Actor, round_: LotteryRound, what: str, **details: object
) -> None:
    """Put a staff action on a round into the city's audit chain."""
    await audit.append(
        session=session,
        actor=actor,
        action=f"lottery.round.{what}",
        object_type="lottery_round",
        object_id=round_.code,
        city_id=round_.city_id,
        details=details,
    )


async def eligibility_checker(
    *, session: AsyncSession, hub: ConnectorHub, service: Service
) -> EligibilityChecker:
    """The guarded eligibility provider of an active lottery service."""
    if service.status != ServiceStatus.ACTIVE:
        raise Conflict(
            f"service {service.code!r} is {service.status.value}", code="service_not_active"
        )
    return await hub.eligibility(session=session, service=service)


async def check_eligibility(
    checker: EligibilityChecker, *, kind: str, subject: Subject
) -> Eligibility:
    """Ask the provider; a provider that does not know the lottery is a set-up fault (503)."""
    try:
        return await checker.check(lottery=kind, subject=subject)
    except NotFound as exc:
        raise Unavailable(
            f"the eligibility provider does not know lottery {kind!r}: {exc.detail}",
            code="connector_misconfigured",
        ) from None


async def failures_of(
    *, session: AsyncSession, round_: LotteryRound, resident_ids: Sequence[int] | None = None
) -> dict[int, int]:
    """Failed draws in earlier rounds of the round's service, per resident (of this round's
    applicants when `resident_ids` is None)."""
    app = LotteryApplication
    applicants = (
        select(app.resident_id).where(app.round_id == round_.id)
        if resident_ids is None
        else resident_ids
    )
    query = (
        select(app.resident_id, func.count())
        .where(
            app.city_id == round_.city_id,
            app.service_id == round_.service_id,
            app.round_id != round_.id,
            app.status == ApplicationStatus.LOST,
            app.resident_id.in_(applicants),
        )
        .group_by(app.resident_id)
    )
    return {rid: int(n) for rid, n in (await session.execute(query)).all()}


async def _listed(session: AsyncSession, round_: LotteryRound) -> list[LotteryApplication]:
    query = select(LotteryApplication).where(
        LotteryApplication.round_id == round_.id, LotteryApplication.status.in_(IN_LIST)
    )
    return list((await session.scalars(query)).all())


async def draw_round(
    *,
    session: AsyncSession,
    vault: Vault,
    actor: audit.Actor,
    city: City,
    code: str,
    draw_in: DrawCreate,
    progress: Progress = NO_PROGRESS,
) -> LotteryRound:
    """Reveal the secret, enter the public value, score everyone and rank the winners."""
    progress(total=DRAW_STEPS, what=f"checking round {code} and its applicant list")
    round_ = await get_round_or_raise(session=session, city_id=city.id, code=code)
    if round_.status == RoundStatus.OPEN:
        raise Conflict("close the round (publish its list) first", code="round_not_closed")
    if round_.status != RoundStatus.CLOSED:
        raise Conflict("the round was drawn already", code="already_drawn")
    secret = draw_in.secret
    if secret is None:
        if round_.sealed_secret is None:
            raise Unprocessable(
                "give the secret committed to when the round opened",
                code="secret_required",
                field="secret",
            )
        secret = vault.decrypt(round_.sealed_secret)
    if draw.commitment_of(secret) != round_.commitment:
        raise Unprocessable(
            "the secret does not match the commitment published when the round opened",
            code="secret_mismatch",
            field="secret",
        )
    apps = await _listed(session, round_)
    ids, tickets = draw.sort_applicants((a.application_id, a.tickets) for a in apps)
    if draw.applicants_hash(ids, tickets) != round_.applicants_hash:
        raise Conflict(
            "the applicant list no longer matches the hash published at close",
            code="list_changed",
        )
    progress(advance=1, what=f"scoring {sum(tickets)} tickets")
    outcome = draw.draw(
        ids,
        tickets,
        commitment=round_.commitment,
        applicants_hash=round_.applicants_hash or "",
        secret=secret,
        public_value=draw_in.public_value,
        quota=round_.quota,
    )
    taken = await session.execute(
        update(LotteryRound)
        .where(LotteryRound.id == round_.id, LotteryRound.status == RoundStatus.CLOSED)
        .values(status=RoundStatus.DRAWN)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the round was drawn meanwhile", code="already_drawn")
    progress(advance=1, what=f"recording {len(outcome.winners)} winners")
    by_id = {a.application_id: a for a in apps}
    positions = {index: n for n, index in enumerate(outcome.winners, start=1)}
    for index, app_id in enumerate(ids):
        app = by_id[app_id]
        app.score = outcome.scores[index].hex()
        app.position = positions.get(index)
        app.status = ApplicationStatus.WON if app.position else ApplicationStatus.LOST
    round_.status, round_.drawn_at = RoundStatus.DRAWN, utcnow()
    round_.secret, round_.public_value = secret, draw_in.public_value
    round_.seed = outcome.seed.hex()
    await session.flush()
    await outbox.enqueue(
        session=session,
        topic="lottery.drawn",
        city_id=round_.city_id,
        payload={"city": city.slug, "round": round_.code, "winners": len(outcome.winners)},
    )
    await audit_round(
        session, actor, round_, "draw", public_value=draw_in.public_value, seed=round_.seed
    )
    progress(advance=1, what=f"round {code} drawn")
    return round_


async def publish_round(
    *, session: AsyncSession, actor: audit.Actor, city: City, code: str
) -> LotteryRound:
    """Make a drawn round's results public (files, residents' results, score checks)."""
    round_ = await get_round_or_raise(session=session, city_id=city.id, code=code)
    if round_.status == RoundStatus.PUBLISHED:
        return round_
    if round_.status != RoundStatus.DRAWN:
        raise Conflict("draw the round first", code="round_not_drawn")
    round_.status, round_.published_at = RoundStatus.PUBLISHED, utcnow()
    await audit_round(session, actor, round_, "publish")
    return round_


def _info(city: City, round_: LotteryRound) -> RoundInfo:
    return RoundInfo(
        city=city.slug,
        round=round_.code,
        kind=round_.kind,
        quota=round_.quota,
        commitment=round_.commitment,
        applicants_hash=round_.applicants_hash or "",
    )


async def publication(
    *, session: AsyncSession, city: City, round_: LotteryRound, drawn_visible: bool
) -> tuple[ApplicantList | None, Results | None]:
    """What can be published now: the list once closed, the results once published (or
    drawn, for `drawn_visible` callers: the operator's CLI)."""
    if round_.status == RoundStatus.OPEN:
        return None, None
    apps = await _listed(session, round_)
    apps.sort(key=lambda a: a.application_id)
    ids, tickets = [a.application_id for a in apps], [a.tickets for a in apps]
    listing = ApplicantList(info=_info(city, round_), ids=ids, tickets=tickets)
    shown = round_.status == RoundStatus.PUBLISHED or (drawn_visible and round_.status in DRAWN)
    if not shown:
        return listing, None
    winners = sorted((a for a in apps if a.position), key=lambda a: a.position or 0)
    results = Results(
        info=listing.info or _info(city, round_),
        secret=round_.secret or "",
        public_value=round_.public_value or "",
        seed=round_.seed or "",
        ids=ids,
        tickets=tickets,
        scores=[a.score or "" for a in apps],
        winners=[a.application_id for a in winners],
    )
    return listing, results


async def outcomes(
    *, session: AsyncSession, city_id: int, code: str
) -> list[tuple[int, ApplicationStatus]]:
    """Each drawn applicant of a round and whether they won (for the notices of results)."""
    round_ = await get_round_or_raise(session=session, city_id=city_id, code=code)
    rows = await session.execute(
        select(LotteryApplication.resident_id, LotteryApplication.status)
        .where(
            LotteryApplication.city_id == city_id,
            LotteryApplication.round_id == round_.id,
            LotteryApplication.status.in_((ApplicationStatus.WON, ApplicationStatus.LOST)),
        )
        .order_by(LotteryApplication.resident_id)
    )
    return [(resident_id, status) for resident_id, status in rows.all()]


async def applications_of(
    *,
    session: AsyncSession,
    city_ids: Sequence[int],
    resident_id: int,
    channel_ids: set[int],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The person's lottery applications made through these channels, newest first, in these
    cities (their history)."""
    app = LotteryApplication
    rows = await session.execute(
        select(app, LotteryRound.code, LotteryRound.title, LotteryRound.titles)
        .join(
            LotteryRound,
            (LotteryRound.city_id == app.city_id) & (LotteryRound.id == app.round_id),
        )
        .where(
            app.city_id.in_(city_ids),
            app.resident_id == resident_id,
            app.channel_id.in_(channel_ids),
            timeline.older_than("application", app.applied_at, app.id, before),
        )
        .order_by(app.applied_at.desc(), app.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="application",
            row_id=a.id,
            at=a.applied_at,
            city_id=a.city_id,
            channel_id=a.channel_id,
            ref=a.application_id,
            title=title,
            status=ApplicationStatus(a.status).value,
            service_id=a.service_id,
            details={"round": code, "round_titles": titles or {}},
        )
        for a, code, title, titles in rows
    ]


def usage_facts(*, city_id: int) -> Select[Any]:
    """The city's lottery applications as usage facts (`platform.facts.COLUMNS`): one found
    ineligible did not succeed; no latency is recorded for an application."""
    app = LotteryApplication
    ok = app.status != ApplicationStatus.EXCLUDED
    return select(
        literal_column("'lottery'", String).label("pillar"),
        app.service_id.label("service_id"),
        app.channel_id.label("channel_id"),
        null().cast(String).label("district"),
        app.resident_id.label("person"),
        app.applied_at.label("at"),
        case((ok, 1), else_=0).label("ok"),
        null().cast(Float).label("latency_ms"),
        literal_column("0", Integer).label("fee_fen"),
    ).where(app.city_id == city_id)


async def applicants_now(*, session: AsyncSession, round_: LotteryRound) -> int:
    """How many apply to the round: counted live while it is open (applications standing,
    not withdrawn), and as the close listed them afterwards."""
    if round_.status != RoundStatus.OPEN:
        return round_.applicant_count
    found = await session.scalar(
        select(func.count(LotteryApplication.id)).where(
            LotteryApplication.city_id == round_.city_id,
            LotteryApplication.round_id == round_.id,
            LotteryApplication.status == ApplicationStatus.APPLIED,
        )
    )
    return int(found or 0)
