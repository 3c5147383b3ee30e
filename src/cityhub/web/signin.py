"""Residents sign in to the portal with their phone number and a one-time code.

The rules: a code is six digits, lives `CODE_TTL`, allows `ATTEMPTS` tries and is used once;
asking for codes is limited per client address (`PER_CLIENT`) and per phone number
(`PER_PHONE`): beyond them the next code waits `WINDOW` after the last one. They are counted by
the hub's attempt counters (`platform.throttle`, as the limits on guessing passwords are), so
that every replica counts the same and two requests racing cannot both slip under a limit.
Only keyed hashes of the phone number, the client and the code are stored. A resident signed
in is the portal channel's user `phone:<hash prefix>`, linked to the one resident record of the
person like any channel's user.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import codes, residents, security
from cityhub.identity import service as identity
from cityhub.identity.pii import Vault, mask_phone, normalize_phone
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound, Unprocessable
from cityhub.platform.throttle import Throttle
from cityhub.web.models import ResidentSession, SignInCode

if TYPE_CHECKING:
    from cityhub.identity.models import Channel, Resident

CODE_TTL = codes.CODE_TTL
ATTEMPTS = codes.ATTEMPTS
CODE_PURPOSE = "sign-in-code"
WINDOW = codes.WINDOW
PER_PHONE = 3
PER_CLIENT = 10
SESSION_TTL = dt.timedelta(days=7)
PORTAL_KIND = "portal"
CLIENT_LIMIT = codes.limit(
    "portal.code.client",
    PER_CLIENT,
    "too_many_codes_client",
    "too many codes were asked for from here; wait a few minutes",
)
PHONE_LIMIT = codes.limit(
    "portal.code.phone",
    PER_PHONE,
    "too_many_codes_phone",
    "too many codes were sent to this number; wait a few minutes",
    field="phone",
)


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


async def get_portal_channel_or_raise(*, session: AsyncSession) -> Channel:
    """The hub's own channel that the portal acts as (kind `portal`)."""
    channel = await identity.get_active_channel_of_kind(session=session, kind=PORTAL_KIND)
    if channel is None:
        raise NotFound("the hub has no portal channel", code="portal_channel_missing")
    return channel


async def issue_code(
    *, session: AsyncSession, vault: Vault, throttle: Throttle, phone: str, client: str
) -> IssuedCode:
    """A new code for the phone, unless the client or the phone asked too often (429)."""
    phone = phone_or_raise(phone)
    phone_hash = vault.lookup_hash("phone", phone)
    client_hash = vault.lookup_hash("client", client)
    # The asker first: a client that must wait uses up nothing of the phone's allowance.
    await throttle.take(CLIENT_LIMIT, client)
    await throttle.take(PHONE_LIMIT, phone)
    now = utcnow()
    code = codes.new_code()
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
    row.code_hash = codes.code_hash(vault, CODE_PURPOSE, row.id, code)
    await session.flush()
    return IssuedCode(id=row.id, code=code, phone=phone, masked_phone=mask_phone(phone))


async def get_code(*, session: AsyncSession, code_id: int) -> SignInCode | None:
    """A code being entered (the visitor's sign-in cookie names it)."""
    return await session.get(SignInCode, code_id)


async def check_code(*, session: AsyncSession, vault: Vault, code_id: int, code: str) -> SignInCode:
    """The code row if `code` is right; a wrong try uses up an attempt (the caller must
    commit even when this raises `Unprocessable`, so that the attempt counts)."""
    row = await session.get(SignInCode, code_id)
    if row is None:
        raise Unprocessable(
            "the code has expired or was used; ask for a new one", code="code_expired"
        )
    await codes.use(
        session=session, vault=vault, table=SignInCode, purpose=CODE_PURPOSE, row=row, code=code
    )
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
    record = await session.scalar(
        select(ResidentSession).where(ResidentSession.token_hash == security.token_digest(token))
    )
    if record is None or record.expires_at <= utcnow():
        return None
    resident = await residents.get(session=session, resident_id=record.resident_id)
    return None if resident is None else (record, resident)


async def end_session(*, session: AsyncSession, session_id: int) -> None:
    """Sign out: the token stops working at once."""
    await session.execute(delete(ResidentSession).where(ResidentSession.id == session_id))


async def move_sessions(session: AsyncSession, from_id: int, to_id: int) -> None:
    """A portal user linked to a known person: their open sessions now stand for that person
    (else /me would say unverified and every personal page send them back to /verify)."""
    await session.execute(
        update(ResidentSession)
        .where(ResidentSession.resident_id == from_id)
        .values(resident_id=to_id)
        .execution_options(synchronize_session="fetch")
    )


residents.on_resident_merged(move_sessions)
