"""A city's connector secrets: written, rotated, listed by name and deleted, never read back.

Values are encrypted with the hub's data key (AES-256-GCM, as personal data is), bound to the
city and the name (a value copied to another row does not decrypt). Only a connector call
decrypts them, in memory, for the request it sends. Every write is audited, without the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.connectors import credentials
from cityhub.connectors.models import ConnectorSecret
from cityhub.identity import audit
from cityhub.identity.pii import Vault
from cityhub.platform.db import utcnow
from cityhub.platform.errors import NotFound, Unprocessable

if TYPE_CHECKING:
    from cityhub.cities.models import City

MAX_VALUE_LENGTH = 8000


def _context(city_id: int, name: str) -> bytes:
    return f"connector-secret:{city_id}:{name}".encode()


def _seal(vault: Vault, city_id: int, name: str, value: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(vault.data_key).encrypt(nonce, value.encode(), _context(city_id, name))


def _open(vault: Vault, row: ConnectorSecret) -> str:
    blob = row.value_enc
    return (
        AESGCM(vault.data_key)
        .decrypt(blob[:12], blob[12:], _context(row.city_id, row.name))
        .decode()
    )


def check_name(name: str, *, field: str = "name") -> str:
    """The name if it is a valid secret name; Unprocessable naming `field` otherwise."""
    if not credentials.SECRET_NAME.match(name):
        raise Unprocessable(
            "a secret's name is 1 to 200 lower-case letters, digits, '.', '_' or '-'",
            code="invalid_secret_name",
            field=field,
        )
    return name


async def get_all(*, session: AsyncSession, city_id: int) -> list[ConnectorSecret]:
    """The city's secrets by name (their values stay encrypted: show names and times only)."""
    query = (
        select(ConnectorSecret)
        .where(ConnectorSecret.city_id == city_id)
        .order_by(ConnectorSecret.name)
    )
    return list((await session.scalars(query)).all())


async def names(*, session: AsyncSession, city_id: int) -> set[str]:
    """The names of the city's secrets."""
    query = select(ConnectorSecret.name).where(ConnectorSecret.city_id == city_id)
    return set((await session.scalars(query)).all())


async def put(
    *,
    session: AsyncSession,
    vault: Vault,
    actor: audit.Actor,
    city: City,
    name: str,
    value: str,
) -> tuple[ConnectorSecret, bool]:
    """Store a secret, or rotate it when the name exists; whether it was created."""
    check_name(name)
    if not value or len(value) > MAX_VALUE_LENGTH:
        raise Unprocessable(
            f"a secret's value is 1 to {MAX_VALUE_LENGTH} characters",
            code="invalid_secret",
            field="value",
        )
    row = await session.get(ConnectorSecret, (city.id, name))
    created = row is None
    if row is None:
        row = ConnectorSecret(city_id=city.id, name=name, version=1)
        session.add(row)
    else:
        row.version += 1
        row.rotated_at = utcnow()
    row.value_enc = _seal(vault, city.id, name, value)
    await session.flush()
    await _audit(session, actor, city, "create" if created else "rotate", row)
    return row, created


async def delete(*, session: AsyncSession, actor: audit.Actor, city: City, name: str) -> None:
    """Forget a secret (connectors that use it fail until it is set again)."""
    row = await session.get(ConnectorSecret, (city.id, name))
    if row is None:
        raise NotFound(f"no connector secret {name!r} in this city", code="secret_not_found")
    await session.delete(row)
    await session.flush()
    await _audit(session, actor, city, "delete", row)


async def _audit(
    session: AsyncSession, actor: audit.Actor, city: City, verb: str, row: ConnectorSecret
) -> None:
    await audit.append(
        session=session,
        actor=actor,
        action=f"connector_secret.{verb}",
        object_type="connector_secret",
        object_id=row.name,
        city_id=city.id,
        details={"version": row.version},  # never the value
    )


async def values(
    *, session: AsyncSession, vault: Vault, city_id: int, wanted: Iterable[str]
) -> dict[str, str]:
    """The plaintext of the named secrets the city has (for one connector call)."""
    wanted = set(wanted)
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ConnectorSecret).where(
            ConnectorSecret.city_id == city_id, ConnectorSecret.name.in_(wanted)
        )
    )
    found: dict[str, str] = {}
    for row in rows:
        try:
            found[row.name] = _open(vault, row)
        except InvalidTag:  # another data key, or a value moved between rows
            continue
    return found


def lookup(stored: dict[str, str], *, city_slug: str, prefix: str) -> credentials.Lookup:
    """How a call resolves each secret of a description: from the store, or from an
    environment variable set aside for this city (checked again here, not only at write)."""

    def resolve(field: str, spec: dict[str, Any]) -> str:
        if "value" in spec:  # a description written before values moved to the store
            return str(spec["value"])
        if "secret" in spec:
            found = stored.get(str(spec["secret"]))
            if found is None:
                raise credentials.misconfigured(
                    field, f"the city has no connector secret {spec['secret']!r}"
                )
            return found
        name = str(spec.get("env", ""))
        why = credentials.env_refusal(name, city_slug=city_slug, prefix=prefix)
        if why:
            raise credentials.misconfigured(field, why)
        value = os.environ.get(name)
        if not value:
            raise credentials.misconfigured(field, f"${name} is not set on the hub")
        return value

    return resolve
