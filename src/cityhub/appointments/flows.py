"""A booking's use cases, where it asks billing for its fee: book (or hold), take an offer,
confirm a hold, cancel, let a hold go, and the fee's payment answered. The API, the portal,
FHIR and the outbox handlers all call these. What they stand on: places and the patient's
standing (`service`), the waitlist's offers (`waitlist`), what the outbox carries (`events`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.appointments import events, family, schedules, service, waitlist
from cityhub.appointments import rules as booking_rules
from cityhub.appointments.models import ACTIVE, Booking, BookingStatus, Slot
from cityhub.appointments.service import Place, changed_rows
from cityhub.billing import flows as payment_flows
from cityhub.billing import service as payments
from cityhub.billing.enums import PaymentStatus, RefundSource
from cityhub.cities import service as cities
from cityhub.connectors import types
from cityhub.platform import metrics
from cityhub.platform.db import utcnow
from cityhub.platform.errors import CityHubError, Conflict

if TYPE_CHECKING:
    from cityhub.appointments.schemas import RulesRead
    from cityhub.cities.models import City
    from cityhub.platform.idempotency_late import LateIdempotency


@dataclass(frozen=True)
class Booked:
    """A booking just made, with its place and its fee's payment (for the answer)."""

    booking: Booking
    place: Place
    fee: payments.PaymentView | None
    family_member: str | None


async def book(
    *,
    session: AsyncSession,
    city: City,
    channel_id: int,
    user_id: str,
    slot_public_id: str,
    family_member: str | None,
    hold: bool = False,
    key: LateIdempotency | None = None,
) -> Booked:
    """Book a slot for the user or their family member: within the window, the rules and the
    places left. With a fee (or when `hold` is asked) the place is held until it is paid (or
    confirmed by `confirm_hold`). With the request's idempotency `key`, the slot's read says
    whether it stands, and a refusal after that read first asks whether a concurrent request
    with the key answered meanwhile (`platform/idempotency_late.py`).

    The place is taken last, just before the commit: the slot's row is the one every
    concurrent booking of it waits for, so it is locked for as short a time as can be."""
    place, rules = await service.place_to_book(
        session=session, city_id=city.id, slot_public_id=slot_public_id, key=key
    )
    try:
        return await _book_place(
            session, city, place, rules, channel_id, user_id, family_member, hold=hold
        )
    except CityHubError:
        if key is not None:
            await key.refused()
        raise


async def _book_place(
    session: AsyncSession,
    city: City,
    place: Place,
    rules: RulesRead,
    channel_id: int,
    user_id: str,
    family_member: str | None,
    *,
    hold: bool,
) -> Booked:
    await cities.require_service_granted(
        session=session, channel_id=channel_id, service=place.service
    )
    patient = await family.patient(
        session=session,
        channel_id=channel_id,
        user_id=user_id,
        family_member=family_member,
        required=place.service.required_level,
    )
    booking_rules.check_window(rules, place.clinic, place.slot, city.timezone, None)
    await service.lock_patient(session=session, city_id=city.id, patient=patient, rules=rules)
    await service.check_same_day(
        session=session,
        city_id=city.id,
        patient_hash=patient.patient_hash,
        place=place,
        rules=rules,
    )
    booking = Booking(
        city_id=city.id,
        public_id=schedules.new_id("bk"),
        session_id=place.clinic.id,
        slot_id=place.slot.id,
        department_id=place.department.id,
        day=place.clinic.day,
        channel_id=channel_id,
        user_id=user_id,
        resident_id=patient.resident_id,
        family_member_id=patient.family_member_id,
        patient_hash=patient.patient_hash,
        status=BookingStatus.BOOKED,
        checkin_code=service.checkin_code(),
        created_at=utcnow(),
    )
    fee = await _hold_or_confirm(session, city, place, booking, rules, hold=hold)
    await service.take(session=session, slot=place.slot)
    metrics.BOOKINGS.labels(city.slug, booking.status.value).inc()
    return Booked(booking, place, fee, patient.family_public_id)


async def _hold_or_confirm(
    session: AsyncSession,
    city: City,
    place: Place,
    booking: Booking,
    rules: RulesRead,
    *,
    hold: bool = False,
) -> payments.PaymentView | None:
    """Hold the place for the fee (quoted as a payment) or for a confirmation, or make it the
    patient's."""
    fee = None
    if place.clinic.fee_fen > 0 or hold:
        booking.status = BookingStatus.HELD
        booking.hold_expires_at = utcnow() + dt.timedelta(minutes=rules.hold_minutes)
        if place.clinic.fee_fen > 0:
            fee = await quote_fee(session=session, city=city, place=place, booking=booking)
            booking.payment_id = fee.payment.id
        session.add(booking)
        await session.flush()
        await outbox.enqueue(
            session=session,
            topic=events.HOLD_EXPIRY,
            city_id=city.id,
            payload={"booking_id": booking.id},
            delay=booking.hold_expires_at - utcnow() + dt.timedelta(seconds=events.GRACE_SECONDS),
        )
    else:
        booking.status = BookingStatus.BOOKED
        booking.booked_at = utcnow()
        if booking.id is None:  # a new booking: one INSERT, no flush
            await service.insert_booking(session=session, booking=booking)
        else:  # an offer taken
            session.add(booking)
            await session.flush()
        await events.booked(session=session, city=city, booking=booking, place=place)
    return fee


async def accept_offer(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """Take an offered place (within the offer's time and the patient's rules)."""
    if booking.status != BookingStatus.OFFERED:
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}, not an offer",
            code="offer_closed",
        )
    assert booking.hold_expires_at is not None
    if booking.hold_expires_at <= utcnow():
        raise Conflict("the offer expired", code="offer_expired")
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    place = await service.place_or_raise(
        session=session, city_id=city.id, slot_public_id=slot.public_id
    )
    rules = await booking_rules.get(session=session, city_id=city.id)
    patient = family.Patient(
        booking.resident_id, booking.family_member_id, None, booking.patient_hash
    )
    await service.lock_patient(session=session, city_id=city.id, patient=patient, rules=rules)
    await service.check_same_day(
        session=session,
        city_id=city.id,
        patient_hash=patient.patient_hash,
        place=place,
        rules=rules,
    )
    changed = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == BookingStatus.OFFERED,
            Booking.hold_expires_at > utcnow(),
        )
        .values(status=BookingStatus.HELD)
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        raise Conflict("the offer expired or was taken back", code="offer_expired")
    await waitlist.offer_done(session=session, booking_id=booking.id)
    await session.refresh(booking)
    await _hold_or_confirm(session, city, place, booking, rules)
    return booking


async def confirm_hold(*, session: AsyncSession, city: City, booking: Booking) -> Booking:
    """Make a place held without a fee the patient's, before its hold expires (a fee's hold is
    confirmed by its payment instead)."""
    if booking.status == BookingStatus.BOOKED:
        return booking
    if booking.payment_id is not None:
        raise Conflict(
            "this place is held for its fee: it is booked when the fee is paid",
            code="fee_unpaid",
        )
    changed = await session.execute(
        update(Booking)
        .where(
            Booking.id == booking.id,
            Booking.status == BookingStatus.HELD,
            Booking.hold_expires_at > utcnow(),
        )
        .values(status=BookingStatus.BOOKED, booked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(booking)
    if changed_rows(changed) != 1:
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}; it cannot be booked",
            code="hold_closed",
            status_now=booking.status.value,
        )
    await _booked(session, city, booking)
    return booking


async def _booked(session: AsyncSession, city: City, booking: Booking) -> None:
    place = await service.place_of(session=session, booking=booking)
    await events.booked(session=session, city=city, booking=booking, place=place)


# -- freeing places: cancellation and expiry -------------------------------------------------


async def cancel(*, session: AsyncSession, city: City, booking: Booking, by: str) -> Booking:
    """Cancel a held or booked appointment before the cut-off: the fee (if paid) is refunded
    and the place goes to the waitlist or back to the pool."""
    slot = await session.get(Slot, booking.slot_id)
    assert slot is not None
    rules = await booking_rules.get(session=session, city_id=city.id)
    if booking.status == BookingStatus.OFFERED:
        return await waitlist.decline(session=session, city=city, booking=booking)
    booking_rules.check_cutoff(rules, slot)
    was = booking.status
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(ACTIVE))
        .values(status=BookingStatus.CANCELLED, cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        await session.refresh(booking)
        raise Conflict(
            f"booking {booking.public_id} is {booking.status.value}; it cannot be cancelled",
            code="not_cancellable",
            status_now=booking.status.value,
        )
    await session.refresh(booking)
    await service.release_patient(
        session=session, city_id=city.id, patient_hash=booking.patient_hash
    )
    if booking.payment_id is not None:
        if was == BookingStatus.HELD:
            # If the fee was confirmed meanwhile, its completion finds the booking cancelled
            # and refunds it (see `fee_paid`).
            await expire_fee(session=session, city=city, payment_id=booking.payment_id)
        else:
            await refund_fee(session=session, city=city, booking=booking, by=by)
    await events.cancelled(session=session, city=city, booking=booking, was=was)
    await waitlist.free_place(session=session, city=city, slot_id=booking.slot_id)
    return booking


async def release_hold(*, session: AsyncSession, city: City, booking_id: int) -> bool:
    """Let a held place go once its hold expired and its fee was not paid (the payment's quote
    is expired first, so a confirmation can no longer land); whether this call did it."""
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.city_id != city.id or booking.status != BookingStatus.HELD:
        return False
    assert booking.hold_expires_at is not None
    if booking.hold_expires_at > utcnow():
        return False
    if booking.payment_id is not None and not await expire_fee(
        session=session, city=city, payment_id=booking.payment_id
    ):
        return False  # the fee was confirmed in time: the booking stands
    return await _let_go(session, city, booking)


async def _let_go(session: AsyncSession, city: City, booking: Booking) -> bool:
    """A held place that was not paid for expires and is freed; whether this call did it."""
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.HELD)
        .values(status=BookingStatus.EXPIRED)
        .execution_options(synchronize_session=False)
    )
    if changed_rows(changed) != 1:
        return False
    await service.release_patient(
        session=session, city_id=city.id, patient_hash=booking.patient_hash
    )
    await waitlist.free_place(session=session, city=city, slot_id=booking.slot_id)
    return True


# -- the fee: a billing payment with the hospital as payee -----------------------------------


async def quote_fee(
    *, session: AsyncSession, city: City, place: Place, booking: Booking
) -> payments.PaymentView:
    """The registration fee as a billing payment quoted to the channel until the hold ends."""
    assert booking.hold_expires_at is not None
    charge = types.Bill(
        bill_id=booking.public_id,
        account=booking.public_id,
        period=place.clinic.day.isoformat(),
        amount_fen=place.clinic.fee_fen,
        currency=place.clinic.currency,
    )
    return await payments.quote_charge(
        session=session,
        city=city,
        channel_id=booking.channel_id,
        service=place.service,
        charge=charge,
        user_id=booking.user_id,
        expires_at=booking.hold_expires_at,
    )


async def expire_fee(*, session: AsyncSession, city: City, payment_id: int) -> bool:
    """Make an unpaid fee unpayable; False when it was confirmed meanwhile."""
    return await payments.expire_quote(session=session, city_id=city.id, payment_id=payment_id)


async def refund_fee(*, session: AsyncSession, city: City, booking: Booking, by: str) -> None:
    """Give a paid fee back in full (the hospital's share and the hub's fee)."""
    assert booking.payment_id is not None
    view = await payments.get_view_by_id(
        session=session, city_id=city.id, payment_id=booking.payment_id
    )
    if view.payment.status != PaymentStatus.COMPLETED:
        return
    await payment_flows.refund(
        session=session,
        view=view,
        amount_fen=view.payment.amount_fen - view.payment.refunded_fen,
        currency=view.payment.currency,
        reason=f"booking {booking.public_id} cancelled",
        source=RefundSource.STAFF,
        requested_by=by,
    )


async def fee_paid(*, session: AsyncSession, city: City, payment_id: int) -> Booking | None:
    """The fee's payment completed: the held place becomes the patient's. A booking that was
    cancelled or let go meanwhile gets its fee back instead."""
    booking = await service.get_by_payment(session=session, city_id=city.id, payment_id=payment_id)
    if booking is None:
        return None
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.HELD)
        .values(status=BookingStatus.BOOKED, booked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await session.refresh(booking)
    if changed_rows(changed) == 1:
        await _booked(session, city, booking)
    elif booking.status in (BookingStatus.CANCELLED, BookingStatus.EXPIRED):
        await refund_fee(
            session=session, city=city, booking=booking, by="hub: booking no longer held"
        )
    return booking


async def fee_failed(*, session: AsyncSession, city: City, payment_id: int) -> bool:
    """The fee's payment failed for good (the channel refunds its user): the place is let go."""
    booking = await service.get_by_payment(session=session, city_id=city.id, payment_id=payment_id)
    if booking is None:
        return False
    return await _let_go(session, city, booking)
