"""An auto-debit agreement (a resident lets a channel pay one biller account's bills up to a
limit per bill) and each auto-debit it makes: one per bill, whatever runs it twice."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.identity import residents
from cityhub.platform.db import Base, BigId, TenantMixin, str_enum, tenant_fk, utcnow


class AutoDebitAgreementStatus(enum.StrEnum):
    """active <-> paused -> cancelled (for good: a cancelled agreement never debits again)."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"


class AutoDebitStatus(enum.StrEnum):
    """scheduled (the resident was told; waits the notice period) -> requested (the channel was
    asked to debit) -> confirmed (posted as a payment); or over_limit, failed, cancelled."""

    SCHEDULED = "scheduled"
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    OVER_LIMIT = "over_limit"
    FAILED = "failed"
    CANCELLED = "cancelled"


LIVE = (AutoDebitAgreementStatus.ACTIVE, AutoDebitAgreementStatus.PAUSED)
OPEN = (AutoDebitStatus.SCHEDULED, AutoDebitStatus.REQUESTED)


class Agreement(TenantMixin, Base):
    """A resident's standing authorisation, given through a channel, for that channel to pay
    one account's bills of one biller, each up to `limit_fen` (what the channel charges)."""

    __tablename__ = "auto_debit_agreements"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        Index("ix_auto_debit_agreements_resident", "city_id", "resident_id", "id"),
        Index("ix_auto_debit_agreements_channel", "city_id", "channel_id", "id"),
        Index("ix_auto_debit_agreements_status", "city_id", "status", "id"),
        Index("ix_auto_debit_agreements_account", "city_id", "service_id", "account"),
        tenant_fk("service_id", "services"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id"))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id"))
    user_id: Mapped[str] = mapped_column(String(128))  # the channel's user who agreed
    service_id: Mapped[int] = mapped_column(BigId)
    account: Mapped[str] = mapped_column(String(80))
    limit_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[AutoDebitAgreementStatus] = mapped_column(
        str_enum(AutoDebitAgreementStatus, "auto_debit_agreement_status")
    )
    # The purpose-bound consent the resident gave for this agreement (its own scope).
    consent_id: Mapped[int] = mapped_column(BigId, ForeignKey("consents.id"))
    changed_by: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class AutoDebit(TenantMixin, Base):
    """One bill an agreement pays: unique per bill, so a bill is debited once."""

    __tablename__ = "auto_debits"
    __table_args__ = (
        UniqueConstraint("city_id", "public_id"),
        UniqueConstraint("city_id", "service_id", "bill_ref"),
        Index("ix_auto_debits_agreement", "city_id", "agreement_id", "id"),
        Index("ix_auto_debits_due", "city_id", "status", "debit_at"),
        tenant_fk("agreement_id", "auto_debit_agreements"),
        tenant_fk("bill_id", "bills"),
        tenant_fk("payment_id", "payments"),
    )

    public_id: Mapped[str] = mapped_column(String(40))
    agreement_id: Mapped[int] = mapped_column(BigId)
    service_id: Mapped[int] = mapped_column(BigId)
    bill_id: Mapped[int] = mapped_column(BigId)
    bill_ref: Mapped[str] = mapped_column(String(80))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # the bill's, as the biller showed it
    total_fen: Mapped[int] = mapped_column(BigInteger)  # with the fee: what the channel charges
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[AutoDebitStatus] = mapped_column(str_enum(AutoDebitStatus, "auto_debit_status"))
    debit_at: Mapped[dt.datetime] = mapped_column()  # after the notice period (or a retry's)
    attempts: Mapped[int] = mapped_column(default=0)
    payment_id: Mapped[int | None] = mapped_column(BigId, default=None)  # the latest quote
    payment_public_id: Mapped[str | None] = mapped_column(String(40), default=None)
    answer_by: Mapped[dt.datetime | None] = mapped_column(default=None)  # the quote's expiry
    failure_code: Mapped[str | None] = mapped_column(String(60), default=None)
    failure_detail: Mapped[str | None] = mapped_column(String(400), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


async def move_resident(session: AsyncSession, from_id: int, to_id: int) -> None:
    """A channel user linked (with proof) to a person already known: their agreements go with
    them, so the person sees and stops them from every channel where they are linked."""
    await session.execute(
        update(Agreement).where(Agreement.resident_id == from_id).values(resident_id=to_id)
    )


residents.on_resident_merged(move_resident)
