"""Passwords, client secrets, channel bearer tokens and console session tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from cityhub.platform.config import Settings
from cityhub.platform.db import MAX_ROW_ID, utcnow
from cityhub.platform.errors import Unauthorized

_hasher = PasswordHasher()
# argon2 is slow and takes 64 MiB a hash on purpose: it runs on these few threads, never on the
# event loop (which would stop every other request while it works). One core is left to the
# event loop, and a queue of guesses waits here instead of taking the process's memory.
HASH_THREADS = max(1, min(8, (os.cpu_count() or 2) - 1))
_hashing = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="cityhub-argon2")
TOKEN_AUDIENCE = "cityhub:v1"
# RFC 6750 3.1: a refused bearer token says so in the challenge.
_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer realm="cityhub", error="invalid_token"'}

# What a channel may be allowed to do. A token carries the subset it asked for.
SCOPES = {
    "catalogue:read": "see the cities and services granted to the channel",
    "residents:write": "register the channel's users and record their consent",
    "residents:read": "read the channel's own users and their data-access log",
    "payments:write": "look up and pay bills",
    "appointments:write": "book and cancel appointments",
    "queries:read": "run record and public-data queries",
    "lotteries:write": "apply for lotteries",
    "notices:read": "read notices and follow government accounts",
    "requests:write": "report problems for the channel's users and follow their handling",
}


def hash_password(password: str) -> str:
    """An argon2id hash of a password or client secret."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether the password matches the stored argon2 hash."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


async def hash_password_async(password: str) -> str:
    """`hash_password` on the hashing threads: what requests and commands call."""
    return await asyncio.get_running_loop().run_in_executor(_hashing, hash_password, password)


async def verify_password_async(stored_hash: str, password: str) -> bool:
    """`verify_password` on the hashing threads: what requests call (with no transaction
    open, so that nobody waits for a lock while the hash is worked out)."""
    return await asyncio.get_running_loop().run_in_executor(
        _hashing, verify_password, stored_hash, password
    )


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """What is stored of a session token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ChannelToken:
    """A decoded, valid channel bearer token."""

    channel_id: int
    scopes: frozenset[str]
    expires_at: dt.datetime
    mode: str = "live"


def issue_channel_token(
    *,
    settings: Settings,
    channel_id: int,
    scopes: set[str] | frozenset[str],
    mode: str = "live",
) -> tuple[str, int]:
    """A signed, short-lived bearer token and its lifetime in seconds; `mode` (`live` or
    `test`) is a claim the channel can read (the hub goes by the channel's own mode)."""
    now = utcnow()
    ttl = settings.token_ttl_seconds
    claims = {
        "sub": f"channel:{channel_id}",
        "aud": TOKEN_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=ttl)).timestamp()),
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(scopes)),
        "mode": mode,
    }
    return jwt.encode(claims, settings.secret_key, algorithm="HS256"), ttl


def decode_channel_token(*, settings: Settings, token: str) -> ChannelToken:
    """The token's claims, or Unauthorized when it is forged, expired or not a channel's."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=["HS256"],
            audience=TOKEN_AUDIENCE,
            # Expiry is judged on the hub's clock, which issued the token, not the system's.
            options={"require": ["exp"], "verify_exp": False, "verify_iat": False},
        )
        if int(claims["exp"]) <= utcnow().timestamp():
            raise jwt.ExpiredSignatureError
        kind, _, raw_id = str(claims["sub"]).partition(":")
        if kind != "channel":
            raise ValueError("not a channel token")
        if not (raw_id.isascii() and raw_id.isdigit() and 1 <= int(raw_id) <= MAX_ROW_ID):
            raise ValueError("not a channel id")  # signed, yet no row could have it
        return ChannelToken(
            channel_id=int(raw_id),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
            mode="test" if claims.get("mode") == "test" else "live",
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized(
            "the access token has expired; request a new one",
            code="token_expired",
            headers=_INVALID_TOKEN,
        ) from None
    except (jwt.PyJWTError, KeyError, ValueError):
        raise Unauthorized(
            "the access token is not valid", code="invalid_token", headers=_INVALID_TOKEN
        ) from None
