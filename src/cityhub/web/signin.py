"""Residents sign in to the portal with their phone number and a one-time code.

The rules: a code is six digits, lives `CODE_TTL`, allows `ATTEMPTS` tries and is used once;
asking for codes is limited per phone number (`PER_PHONE` in `WINDOW`) and per client
(`PER_CLIENT` in `WINDOW`), counted from the codes table itself so that every replica of the
hub counts the same. Only keyed hashes of the phone number, the client and the code are
stored. A resident signed in is the portal channel's user `phone:<hash prefix>`, linked to
the one resident record of the person like any channel's user.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cityhub.identity import residents, security
from cityhub.identity.models import Channel, ChannelStatus, Resident
from cityhub.identity.pii import Vault, mask_phone, normalize_phone
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound, TooManyRequests, Unprocessable
from cityhub.web.models import ResidentSession, SignInCode

CODE_TTL = dt.timedelta(minutes=5)
ATTEMPTS = 5
WINDOW = dt.timedelta(minutes=10)
PER_PHONE = 3
PER_CLIENT = 10
SESSION_TTL = dt.timedelta(days=7)
PORTAL_KIND = "portal"


@dataclass(frozen=True)
class IssuedCode:
    """A code to send: its id (the SMS deduplication reference) and the code in clear, which
    exists only in this object, the text message and, in demo mode, the page."""

    id: int
    code: str
    phone: str
    masked_phone: str


@dataclass(frozen=True)
class SignedIn:
    """A new portal session: the cookie token (returned once) and the resident."""

    token: str
    record: ResidentSession
    resident: Resident


def phone_or_raise(value: str) -> str:
    """A mainland mobile number, or a 422 naming the field."""
    try:
        return normalize_phone(value)
    except ValueError as exc:
        raise Unprocessable(str(exc), code="invalid_phone", field="phone") from None


def _code_hash(vault: Vault, code_id: int, code: str) -> str:
    return vault.lookup_hash("sign-in-code", f"{code_id}:{code}")


async def get_portal_channel_or_raise(*, session: AsyncSession) -> Channel:
    """The hub's own channel that the portal acts as (kind `portal`)."""
    channel = await session.scalar(
        select(Channel)
        .where(Channel.kind == PORTAL_KIND, Channel.status == ChannelStatus.ACTIVE)
        .order_by(Channel.id)
        .limit(1)
    )
    if channel is None:
        raise NotFound("the hub has no portal channel", code="portal_channel_missing")
    return channel


async def _recent(
    session: AsyncSession, column: InstrumentedAttribute[str], value: str, since: dt.datetime
) -> int:
    found = await session.scalar(
        select(func.count())
        .select_from(SignInCode)
        .where(column == value, SignInCode.created_at > since)
    )
    return int(found or 0)


async def issue_code(*, session: AsyncSession, vault: Vault, phone: str, client: str) -> IssuedCode:
    """A new code for the phone, unless the phone or the client asked too often (429)."""
    phone = phone_or_raise(phone)
    phone_hash = vault.lookup_hash("phone", phone)
    client_hash = vault.lookup_hash("client", client)
    now = utcnow()
    since = now - WINDOW
    if await _recent(session, SignInCode.phone_hash, phone_hash, since) >= PER_PHONE:
        raise TooManyRequests(
            "too many codes were sent to this number; wait a few minutes",
            code="too_many_codes_phone",
            field="phone",
        )
    if await _recent(session, SignInCode.client_hash, client_hash, since) >= PER_CLIENT:
        raise TooManyRequests(
            "too many codes were asked for from here; wait a few minutes",
            code="too_many_codes_client",
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SignInCode(
        phone_hash=phone_hash,
        phone_enc=vault.encrypt(phone),
        client_hash=client_hash,
        code_hash="",
        attempts_left=ATTEMPTS,
        expires_at=now + CODE_TTL,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    row.code_hash = _code_hash(vault, row.id, code)
    await session.flush()
    return IssuedCode(id=row.id, code=code, phone=phone, masked_phone=mask_phone(phone))


async def get_code(*, session: AsyncSession, code_id: int) -> SignInCode | None:
    """A code being entered (the visitor's sign-in cookie names it)."""
    return await session.get(SignInCode, code_id)


async def check_code(*, session: AsyncSession, vault: Vault, code_id: int, code: str) -> SignInCode:
    """The code row if `code` is right; a wrong try uses up an attempt (the caller must
    commit even when this raises `Unprocessable`, so that the attempt counts)."""
    now = utcnow()
    row = await session.scalar(
        select(SignInCode).where(
            SignInCode.id == code_id, SignInCode.used_at.is_(None), SignInCode.expires_at > now
        )
    )
    if row is None:
        raise Unprocessable(
            "the code has expired or was used; ask for a new one", code="code_expired"
        )
    # One attempt taken atomically: two tries racing cannot both use the last one.
    taken = await session.execute(
        update(SignInCode)
        .where(SignInCode.id == row.id, SignInCode.attempts_left > 0)
        .values(attempts_left=SignInCode.attempts_left - 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Unprocessable("too many wrong codes; ask for a new one", code="code_attempts_used")
    if not secrets.compare_digest(_code_hash(vault, row.id, code.strip()), row.code_hash):
        left = row.attempts_left - 1
        if left <= 0:
            raise Unprocessable(
                "too many wrong codes; ask for a new one", code="code_attempts_used"
            )
        raise Unprocessable(
            f"the code is not right; {left} tries left", code="code_wrong", field="code"
        )
    used = await session.execute(
        update(SignInCode)
        .where(SignInCode.id == row.id, SignInCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise Unprocessable("the code was used already", code="code_expired")
    return row


def portal_user_id(vault: Vault, phone: str) -> str:
    """The portal channel's user id of a phone number (no number in it)."""
    return "phone:" + vault.lookup_hash("phone", phone)[:32]


async def sign_in(*, session: AsyncSession, vault: Vault, code_id: int, code: str) -> SignedIn:
    """Check the code and open a session for the phone's resident (registered on first sight)."""
    row = await check_code(session=session, vault=vault, code_id=code_id, code=code)
    phone = vault.decrypt(row.phone_enc)
    channel = await get_portal_channel_or_raise(session=session)
    user_id = portal_user_id(vault, phone)
    found, _created = await residents.register(
        session=session, vault=vault, channel=channel, user_id=user_id, phone=phone
    )
    token = security.new_secret()
    record = ResidentSession(
        token_hash=security.token_digest(token),
        resident_id=found.resident.id,
        channel_user_id=user_id,
        expires_at=utcnow() + SESSION_TTL,
    )
    session.add(record)
    await session.flush()
    return SignedIn(token=token, record=record, resident=found.resident)


async def get_session_by_token(
    *, session: AsyncSession, token: str
) -> tuple[ResidentSession, Resident] | None:
    """The live portal session of a cookie token and its resident."""
    row = (
        await session.execute(
            select(ResidentSession, Resident)
            .join(Resident, Resident.id == ResidentSession.resident_id)
            .where(ResidentSession.token_hash == security.token_digest(token))
        )
    ).first()
    if row is None or row[0].expires_at <= utcnow():
        return None
    return row[0], row[1]


async def end_session(*, session: AsyncSession, session_id: int) -> None:
    """Sign out: the token stops working at once."""
    await session.execute(delete(ResidentSession).where(ResidentSession.id == session_id))
