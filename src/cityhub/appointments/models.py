"""Hospital appointments: departments, practitioners, sessions and their slots, bookings, the
waitlist, each patient's standing, family members and a city's booking rules.

A hospital is a service of kind `appointment` (its connector reaches the hospital's own system).
A place is taken with one conditional UPDATE on its slot (`taken < capacity`); a patient's
bookings are serialised on their `appt_patients` row, which carries the counters the real-name
rules need.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

# The tables' vocabulary lives in enums.py (other domains and the pages import it from there).
# isort: off
from cityhub.appointments.enums import (
    ACTIVE as ACTIVE,
    HOLDS_PLACE as HOLDS_PLACE,
    BookingStatus as BookingStatus,
    Period as Period,
    WaitStatus as WaitStatus,
)

# isort: on
from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow


class Department(TenantMixin, Base):
    """A department of a hospital."""

    __tablename__ = "appt_departments"
    __table_args__ = (
        UniqueConstraint("city_id", "service_id", "code"),
        tenant_fk("service_id", "services", ondelete="CASCADE"),
    )

    service_id: Mapped[int] = mapped_column(BigId)
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations of `name`


class Practitioner(TenantMixin, Base):
    """A doctor of a hospital."""

    __tablename__ = "appt_practitioners"
    __table_args__ = (
        UniqueConstraint("city_id", "service_id", "code"),
        tenant_fk("service_id", "services", ondelete="CASCADE"),
        tenant_fk("department_id", "appt_departments"),
    )

    service_id: Mapped[int] = mapped_column(BigId)
    department_id: Mapped[int] = mapped_column(BigId)
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    title: Mapped[str | None] = mapped_column(String(120), default=None)
    titles: Mapped[dict[str, Any]] = mapped_column(default=dict)  # translations of `title`


class ClinicSession(TenantMixin, Base):
    """A doctor's half-day of consultations: a day, a period, a fee and a booking window.
    Its places are its slots' capacities. (FHIR: a Schedule.)"""

    __tablename__ = "appt_sessions"
    __table_args__ = (
        UniqueConstraint("city_id", "practitioner_id", "day", "period"),
        Index("ix_appt_sessions_city_day", "city_id", "day"),
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("service_id", "services", ondelete="CASCADE"),
        tenant_fk("department_id", "appt_departments"),
        tenant_fk("practitioner_id", "appt_practitioners"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    service_id: Mapped[int] = mapped_column(BigId)
    department_id: Mapped[int] = mapped_column(BigId)
    practitioner_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[dt.date] = mapped_column()  # in the city's time
    period: Mapped[Period] = mapped_column(str_enum(Period, "appt_period"))
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    # Overrides of the city's booking window for this session (None: the city's rules).
    opens_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    source: Mapped[str] = mapped_column(String(10))  # console | api | csv | sync
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Slot(TenantMixin, Base):
    """A time window of a session with its own capacity; `taken` counts places held."""

    __tablename__ = "appt_slots"
    __table_args__ = (
        Index("ix_appt_slots_session", "city_id", "session_id", "starts_at"),
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("session_id", "appt_sessions"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[int] = mapped_column(BigId)
    starts_at: Mapped[dt.datetime] = mapped_column()
    ends_at: Mapped[dt.datetime] = mapped_column()
    capacity: Mapped[int] = mapped_column()
    taken: Mapped[int] = mapped_column(default=0)
    external_id: Mapped[str | None] = mapped_column(String(120), default=None)  # hospital's id


class FamilyMember(Base):
    """A person a resident books for (hub-wide, like residents): identity encrypted."""

    __tablename__ = "appt_family_members"
    __table_args__ = (UniqueConstraint("resident_id", "id_number_hash"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    relation: Mapped[str] = mapped_column(String(20))
    name_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_hash: Mapped[str] = mapped_column(String(64))
    id_number_masked: Mapped[str] = mapped_column(String(24))
    verified_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PatientStanding(TenantMixin, Base):
    """A patient (by identity hash) in a city: active bookings, no-shows, a block. Every
    booking of the patient locks this row first, so the real-name rules hold under races."""

    __tablename__ = "appt_patients"
    __table_args__ = (UniqueConstraint("city_id", "patient_hash"),)

    patient_hash: Mapped[str] = mapped_column(String(64))
    active: Mapped[int] = mapped_column(default=0)
    no_shows: Mapped[int] = mapped_column(default=0)
    last_no_show: Mapped[dt.date | None] = mapped_column(default=None)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(default=None)


class Booking(TenantMixin, Base):
    """A place on a slot for a patient, booked by a channel's user. (FHIR: an Appointment.)"""

    __tablename__ = "appt_bookings"
    __table_args__ = (
        Index("ix_appt_bookings_patient", "city_id", "patient_hash", "status"),
        Index("ix_appt_bookings_slot", "city_id", "slot_id", "status"),
        Index("ix_appt_bookings_user", "city_id", "channel_id", "user_id", "id"),
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("session_id", "appt_sessions"),
        tenant_fk("slot_id", "appt_slots"),
        tenant_fk("department_id", "appt_departments"),
        tenant_fk("payment_id", "payments"),
        UniqueConstraint("city_id", "checkin_code"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[int] = mapped_column(BigId)
    slot_id: Mapped[int] = mapped_column(BigId)
    department_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[dt.date] = mapped_column()
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    user_id: Mapped[str] = mapped_column(String(128))  # the channel's user who booked
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    family_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("appt_family_members.id"), default=None
    )
    patient_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[BookingStatus] = mapped_column(str_enum(BookingStatus, "appt_booking_status"))
    hold_expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    payment_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    checkin_code: Mapped[str] = mapped_column(String(16))
    hospital_ref: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    booked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    checked_in_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class WaitlistEntry(TenantMixin, Base):
    """A patient waiting for a place in a full session; served first come, first served."""

    __tablename__ = "appt_waitlist"
    __table_args__ = (
        Index("ix_appt_waitlist_session", "city_id", "session_id", "status", "id"),
        UniqueConstraint("city_id", "public_id"),
        tenant_fk("session_id", "appt_sessions"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    session_id: Mapped[int] = mapped_column(BigId)
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    user_id: Mapped[str] = mapped_column(String(128))
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    family_member_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("appt_family_members.id"), default=None
    )
    patient_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[WaitStatus] = mapped_column(str_enum(WaitStatus, "appt_wait_status"))
    booking_id: Mapped[int | None] = mapped_column(BigId, default=None)  # the offer
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BookingRules(TenantMixin, Base):
    """A city's real-name booking rules (a city without a row has the defaults)."""

    __tablename__ = "appt_rules"
    __table_args__ = (UniqueConstraint("city_id"),)

    one_per_department_day: Mapped[bool] = mapped_column(default=True)
    max_active: Mapped[int] = mapped_column(default=3)
    window_days: Mapped[int] = mapped_column(default=7)
    window_opens_at: Mapped[dt.time] = mapped_column(Time(), default=dt.time(8, 0))
    cancel_cutoff_minutes: Mapped[int] = mapped_column(default=120)
    hold_minutes: Mapped[int] = mapped_column(default=15)
    offer_minutes: Mapped[int] = mapped_column(default=30)
    no_show_limit: Mapped[int] = mapped_column(default=3)
    no_show_block_days: Mapped[int] = mapped_column(default=90)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
