"""Signing in with a secret (a channel's client secret, a staff member's password), guarded
against guessing.

Each attempt is first counted against its address and then its account (client id or
username), and refused with 429 while either waits (`platform.throttle`). The account's stored
hash is read in a short transaction that ends before the argon2 check, which runs on the
hashing threads: a guess never holds a database lock or the event loop while it is worked out.
A right secret clears the account's count (its owner proved it) and gives back the address's
attempt; the address keeps its count of wrong ones, so an attacker signing in to an account of
their own cannot wash away the guesses made against others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import client_checks, security
from cityhub.identity import service as identity
from cityhub.identity.models import Channel, ChannelStatus, StaffSession, StaffUser
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Unauthorized
from cityhub.platform.throttle import BackOff, Throttle

log = structlog.get_logger("cityhub.identity.flows")
CLIENT_SCOPE = "sign_in.client"
STAFF_SCOPE = "sign_in.staff"
ADDRESS_SCOPE = "sign_in.address"
FIRST_WAIT = dt.timedelta(seconds=1)
FORGET_AFTER = dt.timedelta(hours=1)


# A hash to compare against when the account is unknown, so that both paths take as long.
@cache
def _dummy_hash() -> str:
    """Made on first use, not at import: every `cityhub` command imports this module."""
    return security.hash_password("not-a-real-password")


def account_limit(settings: Settings, scope: str) -> BackOff:
    """Wrong secrets per client id or username: `CITYHUB_SIGN_IN_ATTEMPTS`, then 1 s, 2 s,
    4 s... up to `CITYHUB_SIGN_IN_MAX_WAIT_SECONDS`."""
    longest = dt.timedelta(seconds=settings.sign_in_max_wait_seconds)
    return BackOff(
        scope=scope,
        free=settings.sign_in_attempts,
        first_wait=min(FIRST_WAIT, longest),
        max_wait=longest,
        forget_after=max(FORGET_AFTER, 2 * longest),
        detail="too many wrong attempts for this account; wait before trying again",
    )


def address_limit(settings: Settings) -> BackOff:
    """Wrong secrets per client address, whatever the account: more of them (many people may
    share an address), the same growing wait."""
    return dataclasses.replace(
        account_limit(settings, ADDRESS_SCOPE),
        free=settings.sign_in_attempts_per_address,
        detail="too many wrong attempts from this address; wait before trying again",
    )


async def _take(
    throttle: Throttle, settings: Settings, scope: str, account: str, address: str
) -> tuple[BackOff, BackOff]:
    by_address, by_account = address_limit(settings), account_limit(settings, scope)
    await throttle.take(by_address, address)
    await throttle.take(by_account, account)
    return by_address, by_account


async def authenticate_channel(
    *,
    db: Database,
    throttle: Throttle,
    settings: Settings,
    client_id: str,
    client_secret: str,
    address: str,
) -> Channel:
    """The active channel of these client credentials; Unauthorized (saying no more) for a
    wrong pair, 429 while the client id or the address must wait. Requests of the same pair at
    once share one check, and a pair found right lets the next ones in without another
    (`identity/client_checks.py`)."""
    digest = client_checks.pair_digest(client_id, client_secret)
    proven = await _proven_channel(
        db=db,
        throttle=throttle,
        settings=settings,
        client_id=client_id,
        digest=digest,
        address=address,
    )
    if proven is not None:
        return proven
    return await client_checks.CHECKS.once(
        digest,
        lambda: _check_channel(
            db=db,
            throttle=throttle,
            settings=settings,
            client_id=client_id,
            client_secret=client_secret,
            address=address,
            digest=digest,
        ),
    )


async def _proven_channel(
    *,
    db: Database,
    throttle: Throttle,
    settings: Settings,
    client_id: str,
    digest: str,
    address: str,
) -> Channel | None:
    """The channel, if this pair was found right lately against a hash it still has; None
    when it must be checked. Counts no attempt, but waits like any other while one must."""
    proven_hash = client_checks.CHECKS.proven_hash(digest)
    if proven_hash is None:
        return None
    await throttle.check(address_limit(settings), address)
    await throttle.check(account_limit(settings, CLIENT_SCOPE), client_id)
    async with db.unit_of_work() as session:
        channel = await identity.get_channel_by_client_id(session=session, client_id=client_id)
    live_old = (
        channel and channel.old_secret_hash and identity.old_secret_live(channel.old_secret_until)
    )
    if channel is None or proven_hash not in (
        channel.client_secret_hash,
        channel.old_secret_hash if live_old else None,
    ):
        client_checks.CHECKS.forget(digest)  # rotated, revoked or gone: check it afresh
        return None
    if channel.status != ChannelStatus.ACTIVE:
        raise Unauthorized("this client is suspended", code="invalid_client")
    return channel


async def _check_channel(
    *,
    db: Database,
    throttle: Throttle,
    settings: Settings,
    client_id: str,
    client_secret: str,
    address: str,
    digest: str,
) -> Channel:
    """One counted check of the pair with argon2 (the pair is remembered if right). A check
    that fails before its verdict (the database overloaded: 503) gives its attempts back: it
    told nothing, and must not count against a channel that was only unlucky."""
    by_address, by_account = await _take(throttle, settings, CLIENT_SCOPE, client_id, address)
    try:
        channel, stored = await _verify_channel(db, client_id, client_secret)
    except Exception:
        await _give_back_quietly(throttle, (by_address, address), (by_account, client_id))
        raise
    if channel is None or stored is None:
        raise Unauthorized("unknown client or wrong secret", code="invalid_client")
    client_checks.CHECKS.remember(digest, stored)  # first: the next need no count even if
    await throttle.clear(by_account, client_id)  # these two are shed
    await throttle.give_back(by_address, address)
    if channel.status != ChannelStatus.ACTIVE:
        raise Unauthorized("this client is suspended", code="invalid_client")
    return channel


async def _verify_channel(
    db: Database, client_id: str, client_secret: str
) -> tuple[Channel | None, str | None]:
    """The channel and the stored hash the secret matched (None when none did)."""
    async with db.unit_of_work() as session:  # read, and let go before the slow check
        channel = await identity.get_channel_by_client_id(session=session, client_id=client_id)
    stored = channel.client_secret_hash if channel else _dummy_hash()
    if await security.verify_password_async(stored, client_secret):
        return channel, stored
    if channel and channel.old_secret_hash:
        # A rotated secret works until the end of its window, then is revoked.
        if identity.old_secret_live(channel.old_secret_until):
            if await security.verify_password_async(channel.old_secret_hash, client_secret):
                return channel, channel.old_secret_hash
    return channel, None


async def _give_back_quietly(throttle: Throttle, *taken: tuple[BackOff, str]) -> None:
    for policy, key in taken:
        try:
            await throttle.give_back(policy, key)
        except Exception:  # as overloaded as what failed: the count stays, nothing worse
            log.warning("attempt_not_given_back", scope=policy.scope, exc_info=True)


async def check_staff_password(
    *,
    db: Database,
    throttle: Throttle,
    settings: Settings,
    username: str,
    password: str,
    address: str,
) -> int:
    """The id of the active staff member these credentials belong to; Unauthorized (the same
    words whatever was wrong), 429 while the username or the address must wait."""
    by_address, by_account = await _take(throttle, settings, STAFF_SCOPE, username, address)
    async with db.unit_of_work() as session:  # read, and let go before the slow check
        staff = await identity.get_staff_by_username(session=session, username=username)
    stored = staff.password_hash if staff else _dummy_hash()
    if not await security.verify_password_async(stored, password) or staff is None:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    await throttle.clear(by_account, username)
    await throttle.give_back(by_address, address)
    if not staff.active:
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    return staff.id


async def sign_in_staff(
    *,
    session: AsyncSession,
    db: Database,
    throttle: Throttle,
    settings: Settings,
    username: str,
    password: str,
    address: str,
) -> tuple[str, StaffSession, StaffUser]:
    """Check the password (no transaction open), then open and audit a console session in
    the request's transaction `session`: the cookie token, the session record, the staff."""
    staff_id = await check_staff_password(
        db=db,
        throttle=throttle,
        settings=settings,
        username=username,
        password=password,
        address=address,
    )
    return await identity.sign_in(session=session, settings=settings, staff_id=staff_id)
