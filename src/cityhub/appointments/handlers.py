"""Outbox handlers of appointments: holds and offers that expire, the fee's payment answered,
and the hospital's own system told of bookings and cancellations.

The hospital is called with no transaction open (a short read first), and its answer written
in the handler's transaction; no answer is not a failure of the event but a later attempt.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import events, family, flows, waitlist
from cityhub.appointments.models import Booking, BookingStatus, ClinicSession, Slot
from cityhub.billing import service as payments
from cityhub.billing.handlers import RETRY_CAP_SECONDS, hub_for
from cityhub.cities import service as cities
from cityhub.connectors.types import Subject
from cityhub.identity.pii import Vault
from cityhub.outbox import HandlerContext, OutboxEvent, registry
from cityhub.platform.errors import BadGateway, CityHubError, NotFound, Unavailable

if TYPE_CHECKING:
    from cityhub.cities.models import City, Service

log = structlog.get_logger("cityhub.appointments")


async def _city(ctx: HandlerContext, event: OutboxEvent) -> City:
    assert event.city_id is not None
    city = await cities.get_city(session=ctx.session, city_id=event.city_id)
    assert city is not None
    return city


@registry.on(events.HOLD_EXPIRY, "appointments.hold_expiry")
async def hold_expiry(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Let a held place go if its fee was not paid in time."""
    city = await _city(ctx, event)
    await flows.release_hold(
        session=ctx.session, city=city, booking_id=int(event.payload["booking_id"])
    )


@registry.on(events.OFFER_EXPIRY, "appointments.offer_expiry")
async def offer_expiry(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Pass an offer that was not taken in time to the next in line."""
    city = await _city(ctx, event)
    await waitlist.expire_offer(
        session=ctx.session, city=city, booking_id=int(event.payload["booking_id"])
    )


async def _payment_id(ctx: HandlerContext, event: OutboxEvent) -> int | None:
    public_id = (event.payload.get("payment") or {}).get("id")
    if not isinstance(public_id, str) or event.city_id is None:
        return None
    try:
        view = await payments.get_view_or_raise(
            session=ctx.session, city_id=event.city_id, public_id=public_id, channel_id=None
        )
    except NotFound:
        return None
    return view.payment.id


@registry.on("payment.completed", "appointments.fee_paid")
async def fee_paid(ctx: HandlerContext, event: OutboxEvent) -> None:
    """A payment completed: if it was a booking's fee, the booking stands."""
    payment_id = await _payment_id(ctx, event)
    if payment_id is not None:
        await flows.fee_paid(
            session=ctx.session, city=await _city(ctx, event), payment_id=payment_id
        )


@registry.on("payment.failed", "appointments.fee_failed")
async def fee_failed(ctx: HandlerContext, event: OutboxEvent) -> None:
    """A payment failed: if it was a booking's fee, its place is let go."""
    payment_id = await _payment_id(ctx, event)
    if payment_id is not None:
        await flows.fee_failed(
            session=ctx.session, city=await _city(ctx, event), payment_id=payment_id
        )


async def _again(ctx: HandlerContext, event: OutboxEvent, why: Exception) -> None:
    attempt = int(event.payload.get("attempt", 1))
    log.warning("hospital_no_answer", topic=event.topic, attempt=attempt, error=str(why))
    await outbox.enqueue(
        session=ctx.session,
        topic=event.topic,
        city_id=event.city_id,
        payload={**event.payload, "attempt": attempt + 1},
        delay=dt.timedelta(seconds=outbox.backoff(attempt, base=1.0, cap=RETRY_CAP_SECONDS)),
    )


@registry.on(events.BOOK_AT_HOSPITAL, "appointments.book_at_hospital")
async def book_at_hospital(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Book the synced slot in the hospital's own system (idempotent by our booking id)."""
    booking_id = int(event.payload["booking_id"])
    async with ctx.db.unit_of_work() as session:
        booking = await session.get(Booking, booking_id)
        if booking is None or booking.status != BookingStatus.BOOKED or booking.hospital_ref:
            return
        slot = await session.get(Slot, booking.slot_id)
        assert slot is not None and slot.external_id is not None
        hospital_service = await _hospital_service(session, slot)
        hospital = await hub_for(ctx).hospital(session=session, service=hospital_service)
        patient: Subject = await family.subject(
            session=session,
            vault=Vault.from_settings(ctx.settings),
            resident_id=booking.resident_id,
            family_member_id=booking.family_member_id,
        )
        public_id, external = booking.public_id, slot.external_id
    try:
        answer = await hospital.book(booking_ref=public_id, slot_id=external, patient=patient)
    except (Unavailable, BadGateway) as exc:
        await _again(ctx, event, exc)
        return
    except CityHubError as exc:  # the hospital refused (the slot went another way there)
        log.warning("hospital_refused_booking", booking=public_id, code=exc.code)
        ref = f"refused:{exc.code}"[:120]
    else:
        ref = answer.appointment_id
    await ctx.session.execute(
        update(Booking).where(Booking.id == booking_id).values(hospital_ref=ref)
    )
    status = await ctx.session.scalar(select(Booking.status).where(Booking.id == booking_id))
    if status == BookingStatus.CANCELLED and not ref.startswith("refused:"):
        await outbox.enqueue(
            session=ctx.session,
            topic=events.CANCEL_AT_HOSPITAL,
            city_id=event.city_id,
            payload={"booking_id": booking_id, "attempt": 1},
        )


@registry.on(events.CANCEL_AT_HOSPITAL, "appointments.cancel_at_hospital")
async def cancel_at_hospital(ctx: HandlerContext, event: OutboxEvent) -> None:
    """Cancel the appointment in the hospital's own system once it was booked there."""
    booking_id = int(event.payload["booking_id"])
    async with ctx.db.unit_of_work() as session:
        booking = await session.get(Booking, booking_id)
        # Not booked there (yet): `book_at_hospital` cancels what it booked for a booking
        # that was cancelled meanwhile.
        if (
            booking is None
            or not booking.hospital_ref
            or booking.hospital_ref.startswith("refused:")
        ):
            return
        slot = await session.get(Slot, booking.slot_id)
        assert slot is not None
        hospital = await hub_for(ctx).hospital(
            session=session, service=await _hospital_service(session, slot)
        )
        ref = booking.hospital_ref
    try:
        await hospital.cancel(appointment_id=ref)
    except (Unavailable, BadGateway) as exc:
        await _again(ctx, event, exc)
    except CityHubError as exc:
        log.warning("hospital_refused_cancellation", appointment=ref, code=exc.code)


async def _hospital_service(session: AsyncSession, slot: Slot) -> Service:
    clinic = await session.get(ClinicSession, slot.session_id)
    assert clinic is not None
    found = await cities.get_service(
        session=session, city_id=clinic.city_id, service_id=clinic.service_id
    )
    assert found is not None
    return found
