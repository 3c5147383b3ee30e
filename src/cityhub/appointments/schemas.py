"""API shapes of appointments."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhub.appointments.models import BookingStatus, Period, WaitStatus
from cityhub.identity.pii import normalize_id_number
from cityhub.platform.texts import NameTexts

Text = Field(min_length=1, max_length=120)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RulesRead(BaseModel):
    """A city's real-name booking rules."""

    one_per_department_day: bool = True
    max_active: int = 3
    window_days: int = 7
    window_opens_at: dt.time = dt.time(8, 0)
    cancel_cutoff_minutes: int = 120
    hold_minutes: int = 15
    offer_minutes: int = 30
    no_show_limit: int = 3
    no_show_block_days: int = 90


class RulesIn(Input):
    """A change of some rules."""

    one_per_department_day: bool | None = None
    max_active: int | None = Field(default=None, ge=1, le=50)
    window_days: int | None = Field(default=None, ge=0, le=90)
    window_opens_at: dt.time | None = None
    cancel_cutoff_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)
    hold_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    offer_minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    no_show_limit: int | None = Field(default=None, ge=1, le=100)
    no_show_block_days: int | None = Field(default=None, ge=0, le=3650)


class SlotIn(Input):
    """A time window of a new session (in the city's time) and its places."""

    start: dt.time
    end: dt.time
    capacity: int = Field(ge=1, le=10_000)


class SessionCreate(Input):
    """A doctor's session entered by staff."""

    service: str = Field(min_length=1, max_length=60, description="the hospital's service code")
    department: str = Field(min_length=1, max_length=80, description="department code")
    department_name: str | None = Field(default=None, max_length=120)
    practitioner: str = Field(min_length=1, max_length=80, description="practitioner code")
    practitioner_name: str | None = Field(default=None, max_length=120)
    practitioner_title: str | None = Field(default=None, max_length=120)
    department_names: NameTexts | None = None
    practitioner_titles: NameTexts | None = None
    day: dt.date
    period: Period
    fee_fen: int = Field(default=0, ge=0, le=10_000_000)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    opens_at: dt.datetime | None = Field(default=None, description="overrides the city's window")
    slots: list[SlotIn] = Field(min_length=1, max_length=200)

    @field_validator("opens_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give opens_at with its UTC offset")
        return value


class SlotRead(BaseModel):
    id: str
    start: dt.datetime
    end: dt.datetime
    capacity: int
    left: int


class SessionRead(BaseModel):
    """A session with its slots and the places left."""

    id: str
    city: str
    hospital: str
    hospital_name: str
    department: str
    department_name: str
    department_names: dict[str, str] = Field(default_factory=dict, description="translations")
    practitioner: str
    practitioner_name: str
    practitioner_title: str | None
    practitioner_titles: dict[str, str] = Field(default_factory=dict, description="translations")
    day: dt.date
    period: Period
    fee_fen: int
    currency: str
    opens_at: dt.datetime
    capacity: int
    left: int
    waiting: int
    slots: list[SlotRead]


class SyncRead(BaseModel):
    """What a sync from a hospital's system found and changed."""

    service: str
    departments: int
    practitioners: int
    sessions: int
    slots_added: int
    slots_updated: int


class CsvRead(BaseModel):
    sessions: int
    slots: int


class FamilyMemberCreate(Input):
    """A person the resident books for; their identity is checked like the resident's."""

    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(min_length=15, max_length=20)
    relation: str = Field(min_length=1, max_length=20, examples=["child", "parent", "spouse"])

    @field_validator("id_number")
    @classmethod
    def _valid(cls, value: str) -> str:
        return normalize_id_number(value)


class FamilyMemberRead(BaseModel):
    id: str
    name: str
    id_number: str  # masked
    relation: str
    verified_at: dt.datetime


class BookingCreate(Input):
    """Book a slot for the channel's user or one of their family members."""

    user_id: str = Field(min_length=1, max_length=128)
    slot: str = Field(min_length=1, max_length=40, description="the slot's id, sl_...")
    family_member: str | None = Field(default=None, max_length=40, description="fm_..., or self")


class WaitlistCreate(Input):
    user_id: str = Field(min_length=1, max_length=128)
    family_member: str | None = Field(default=None, max_length=40)


class WaitlistRead(BaseModel):
    id: str
    session: str
    user_id: str
    status: WaitStatus
    position: int | None
    offer: str | None


class FeeRead(BaseModel):
    """The registration fee's payment: confirm it like any payment, before it expires."""

    payment: str
    total_fen: int
    currency: str
    status: str
    expires_at: dt.datetime


class BookingRead(BaseModel):
    id: str
    city: str
    status: BookingStatus
    user_id: str
    family_member: str | None
    hospital: str
    hospital_name: str
    department: str
    department_name: str
    department_names: dict[str, str] = Field(default_factory=dict, description="translations")
    practitioner: str
    practitioner_name: str
    session: str
    slot: str
    start: dt.datetime
    end: dt.datetime
    hold_expires_at: dt.datetime | None
    fee: FeeRead | None
    checkin_code: str | None
    checkin_url: str | None
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    checked_in_at: dt.datetime | None


class CheckIn(Input):
    code: str = Field(min_length=4, max_length=16, description="the code the desk scanned")


# What POST .../appointments/sessions.csv reads (docs/appointments.md), as the API shows it.
SESSIONS_CSV_EXAMPLE = (
    "service,department,department_name,practitioner,practitioner_name,practitioner_title,"
    "day,period,fee_fen,slot_start,slot_end,capacity\n"
    "renji,cardiology,心内科,dr-wang,王医生,主任医师,2026-12-02,am,5000,08:00,08:30,3\n"
)
