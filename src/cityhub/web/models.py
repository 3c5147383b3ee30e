"""Tables of the resident portal: one-time sign-in codes and residents' web sessions.

Neither carries `city_id`: a resident is hub-wide (one person uses services in many cities),
and so is their sign-in. Phone numbers are kept only as the vault's keyed look-up hash.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.platform.db import Base, BigId, utcnow


class SignInCode(Base):
    """A one-time code sent to a phone: it expires, allows a few attempts, and is used once."""

    __tablename__ = "portal_sign_in_codes"
    __table_args__ = (
        Index("ix_portal_sign_in_codes_phone", "phone_hash", "created_at"),
        Index("ix_portal_sign_in_codes_client", "client_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    phone_hash: Mapped[str] = mapped_column(String(64))
    client_hash: Mapped[str] = mapped_column(String(64))
    # The number itself, encrypted: the resident is registered with it once the code is right.
    phone_enc: Mapped[bytes] = mapped_column(LargeBinary)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts_left: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResidentSession(Base):
    """A resident signed in to the portal (the cookie holds the token, the table its hash)."""

    __tablename__ = "portal_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[int] = mapped_column(BigId, ForeignKey("residents.id", ondelete="CASCADE"))
    # The portal channel's own user id of the resident (what the pillars are called with).
    channel_user_id: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
