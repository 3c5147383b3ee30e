"""The channel parity report: per channel and service, how residents fare through each
channel, so that the city sees whether any channel is treated differently.

Success rate and fees come from the usage facts (`service.facts`); latency is recorded for
payments only (confirmation to the biller's answer), its median and 95th percentile taken by
the database with the nearest-rank method (the value at rank ceil(p * n)). Complaints are
every complaint ever filed (`complaints.service.counts`), on the row of their service and
channel: a complaint about a payment in the payments pillar, one about a service in the pillar
of the service's kind. Subsidies are the payments still standing that a campaign's claim
lowered, and the fen it took off them (`subsidies.service.applied`), in the payments pillar.
A row under the threshold of people, or suppressed as a complement in the
usage tables, shows no figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.complaints import service as complaints
from cityhub.figures import service as figures
from cityhub.subsidies import service as subsidies

if TYPE_CHECKING:
    from cityhub.cities.models import City

KEY = ("pillar", "service", "channel")
# The pillar of the usage facts a service's kind counts in (a complaint about the service).
PILLAR_OF_KIND = {"bill": "payments", "appointment": "appointments", "lottery": "lottery"}
MAX_SERVICES = 1000
NOT_RECORDED = {
    "latency": "recorded for payments only: from the channel's confirmation to the biller's "
    "answer; bookings, applications and requests have no latency of the hub's own",
}


@dataclass(frozen=True)
class ParityRow:
    pillar: str
    service: str | None
    channel: str | None
    suppressed: bool
    people: int | None
    uses: int | None
    success_rate: float | None
    median_latency_ms: float | None
    p95_latency_ms: float | None
    fee_fen: int | None
    complaints: int | None
    subsidised: int | None
    subsidy_fen: int | None


async def complaint_counts(
    *, session: AsyncSession, city_id: int
) -> dict[tuple[str, int, int], int]:
    """(pillar, service id, channel id) -> complaints filed through the channel about it."""
    services = await cities.get_all_services(session=session, city_id=city_id, limit=MAX_SERVICES)
    kinds = {s.id: s.kind.value for s in services}
    found: dict[tuple[str, int, int], int] = {}
    for service_id, channel_id, about_payment, n in await complaints.counts(
        session=session, city_id=city_id
    ):
        pillar = "payments" if about_payment else PILLAR_OF_KIND.get(kinds.get(service_id, ""))
        if pillar is not None:
            key = (pillar, service_id, channel_id)
            found[key] = found.get(key, 0) + n
    return found


async def subsidy_sums(
    *, session: AsyncSession, city_id: int
) -> dict[tuple[str, int, int | None], tuple[int, int]]:
    """(payments, service id, channel id) -> (payments subsidised, fen the subsidies took)."""
    return {
        ("payments", service_id, channel_id): (n, fen)
        for service_id, channel_id, n, fen in await subsidies.applied(
            session=session, city_id=city_id
        )
    }


async def latencies(
    *, session: AsyncSession, city_id: int
) -> dict[tuple[str, int | None, int | None], tuple[float | None, float | None]]:
    """(pillar, service id, channel id) -> (median, p95) latency in ms, nearest rank."""
    f = figures.facts(city_id)
    part = (f.c.pillar, f.c.service_id, f.c.channel_id)
    ranked = (
        select(
            *part,
            f.c.latency_ms,
            func.row_number().over(partition_by=part, order_by=f.c.latency_ms).label("rn"),
            func.count().over(partition_by=part).label("n"),
        )
        .where(f.c.latency_ms.is_not(None))
        .subquery("ranked")
    )
    r = ranked.c
    query = select(
        r.pillar,
        r.service_id,
        r.channel_id,
        func.max(case((r.rn == (r.n + 1) // 2, r.latency_ms))).label("median"),
        func.max(case((r.rn == (r.n * 95 + 99) // 100, r.latency_ms))).label("p95"),
    ).group_by(r.pillar, r.service_id, r.channel_id)
    rows = await session.execute(query)
    return {
        (pillar, service, channel): (
            None if median is None else round(float(median), 1),
            None if p95 is None else round(float(p95), 1),
        )
        for pillar, service, channel, median, p95 in rows
    }


async def report(*, session: AsyncSession, city: City) -> list[ParityRow]:
    """The city's parity rows, ordered by service then channel."""
    shown = await figures.published(session=session, city=city)
    ids = next(t for t in shown.raw if t.dims == KEY)
    named = next(t for t in shown.tables if t.dims == KEY)
    timing = await latencies(session=session, city_id=city.id)
    filed = await complaint_counts(session=session, city_id=city.id)
    given = await subsidy_sums(session=session, city_id=city.id)
    rows = []
    # Both tables hold the same cells in the same order (one query, named afterwards).
    for (key, _), (name, cell) in zip(ids.cells.items(), named.cells.items(), strict=True):
        pillar, service, channel = name
        median, p95 = timing.get((str(key[0]), key[1], key[2]), (None, None))  # type: ignore[arg-type]
        hide = cell.suppressed
        subsidised, subsidy_fen = given.get((str(key[0]), key[1], key[2]), (0, 0))  # type: ignore[arg-type]
        rows.append(
            ParityRow(
                pillar=str(pillar),
                service=None if service is None else str(service),
                channel=None if channel is None else str(channel),
                suppressed=hide,
                people=None if hide else cell.people,
                uses=None if hide else cell.uses,
                success_rate=None if hide else round(cell.successes / cell.uses, 4),
                median_latency_ms=None if hide else median,
                p95_latency_ms=None if hide else p95,
                fee_fen=None if hide else cell.fee_fen,
                complaints=None if hide else filed.get((str(key[0]), key[1], key[2]), 0),  # type: ignore[arg-type]
                subsidised=None if hide else subsidised,
                subsidy_fen=None if hide else subsidy_fen,
            )
        )
    return sorted(rows, key=lambda r: (r.pillar, r.service or "", r.channel or ""))
