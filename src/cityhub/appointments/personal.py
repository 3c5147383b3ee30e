"""A person's bookings as their history lists them, and the bookings behind the city's
usage figures (appointments' part of `platform.timeline` and `platform.facts`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Float, Integer, Select, String, and_, case, literal_column, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.enums import BookingStatus
from cityhub.appointments.models import Booking, Department
from cityhub.platform import timeline


async def bookings_of(
    *,
    session: AsyncSession,
    city_ids: Sequence[int],
    resident_id: int,
    users: Sequence[tuple[int, str]],
    before: timeline.Before | None,
    limit: int,
) -> list[timeline.Entry]:
    """The person's bookings made by these channel users of theirs in these cities, newest
    first (their history; found by the bookings' channel-user index)."""
    if not users or not city_ids:
        return []
    pairs = or_(*(and_(Booking.channel_id == c, Booking.user_id == u) for c, u in users))
    rows = await session.execute(
        select(Booking, Department.service_id, Department.name, Department.names)
        .join(
            Department,
            (Department.city_id == Booking.city_id) & (Department.id == Booking.department_id),
        )
        .where(
            Booking.city_id.in_(city_ids),
            pairs,
            Booking.resident_id == resident_id,
            timeline.older_than("booking", Booking.created_at, Booking.id, before),
        )
        .order_by(Booking.created_at.desc(), Booking.id.desc())
        .limit(limit)
    )
    return [
        timeline.Entry(
            kind="booking",
            row_id=b.id,
            at=b.created_at,
            city_id=b.city_id,
            channel_id=b.channel_id,
            ref=b.public_id,
            title=department,
            status=BookingStatus(b.status).value,
            service_id=service_id,
            details={"day": b.day.isoformat(), "department_names": names or {}},
        )
        for b, service_id, department, names in rows
    ]


def usage_facts(*, city_id: int) -> Select[Any]:
    """The city's bookings as usage facts (`platform.facts.COLUMNS`): one that got its place
    (`booked_at`, whatever came after) succeeded; the hub records no latency of its own for a
    booking (a hold lasts as long as the patient takes to pay)."""
    ok = Booking.booked_at.is_not(None)
    return (
        select(
            literal_column("'appointments'", String).label("pillar"),
            Department.service_id.label("service_id"),
            Booking.channel_id.label("channel_id"),
            null().cast(String).label("district"),
            Booking.resident_id.label("person"),
            Booking.created_at.label("at"),
            case((ok, 1), else_=0).label("ok"),
            null().cast(Float).label("latency_ms"),
            literal_column("0", Integer).label("fee_fen"),
        )
        .join(
            Department,
            (Department.city_id == Booking.city_id) & (Department.id == Booking.department_id),
        )
        .where(Booking.city_id == city_id, Booking.status != BookingStatus.OFFERED)
    )
