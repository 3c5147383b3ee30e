"""Residents as channels know them: registration, identity verification, consent, access log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.identity import audit, contact, purposes
from cityhub.identity.models import (
    Channel,
    ChannelUser,
    Consent,
    DataAccess,
    IdentityLevel,
    Resident,
)
from cityhub.identity.pii import Vault, mask_id_number, mask_name, mask_phone, scrub
from cityhub.identity.purposes import Purpose
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, NotFound

# What other pillars keep per resident moves with the channel user when it is linked (with
# proof) to a person already known: each registers `async def move(session, from_id, to_id)`.
ResidentMover = Callable[[AsyncSession, int, int], Awaitable[None]]
_MOVERS: list[ResidentMover] = []


def on_resident_merged(mover: ResidentMover) -> ResidentMover:
    """Register a function that moves a pillar's rows from one resident record to another."""
    if mover not in _MOVERS:
        _MOVERS.append(mover)
    return mover


def movers() -> list[ResidentMover]:
    """Every registered mover (`identity.linking` runs them when a link is made)."""
    return list(_MOVERS)


# Consent scopes a resident can give a channel.
CONSENT_SCOPES = {
    "identity": "verify my identity and link my accounts on this channel",
    "records": "look up my own records (violations, social insurance, housing fund)",
    "payments": "pay bills and receive receipts",
    "notices": "send me notices and reminders",
    "history": "show me one history of my affairs with the city across the channels I linked",
}


@dataclass(frozen=True)
class ChannelResident:
    """A channel's user and the resident record behind it."""

    link: ChannelUser
    resident: Resident


async def get_for_channel_or_raise(
    *, session: AsyncSession, channel_id: int, user_id: str
) -> ChannelResident:
    """The channel's own user: another channel's users do not exist for it (404)."""
    row = (
        await session.execute(
            select(ChannelUser, Resident)
            .join(Resident, Resident.id == ChannelUser.resident_id)
            .where(ChannelUser.channel_id == channel_id, ChannelUser.channel_user_id == user_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no user {user_id!r} on this channel", code="resident_not_found")
    return ChannelResident(link=row[0], resident=row[1])


async def get_by_id_number(
    *, session: AsyncSession, vault: Vault, id_number: str
) -> Resident | None:
    """The one resident who holds this identity number, if any."""
    lookup = vault.lookup_hash("id", id_number)
    return await session.scalar(select(Resident).where(Resident.id_number_hash == lookup))


def _set_phone(resident: Resident, vault: Vault, phone: str) -> None:
    resident.phone_enc = vault.encrypt(phone)
    resident.phone_hash = vault.lookup_hash("phone", phone)
    resident.phone_masked = mask_phone(phone)


async def register(
    *, session: AsyncSession, vault: Vault, channel: Channel, user_id: str, phone: str | None
) -> tuple[ChannelResident, bool]:
    """The channel user's record, created on first sight; whether it was created now."""
    try:
        found = await get_for_channel_or_raise(
            session=session, channel_id=channel.id, user_id=user_id
        )
    except NotFound:
        pass
    else:
        if phone and found.resident.phone_hash != vault.lookup_hash("phone", phone):
            _set_phone(found.resident, vault, phone)
        return found, False
    resident = Resident()
    if phone:
        _set_phone(resident, vault, phone)
    session.add(resident)
    await session.flush()
    link = ChannelUser(channel_id=channel.id, channel_user_id=user_id, resident_id=resident.id)
    session.add(link)
    await session.flush()
    return ChannelResident(link=link, resident=resident), True


async def active_consent(
    *, session: AsyncSession, resident_id: int, channel_id: int, scope: str
) -> Consent | None:
    """The resident's live consent for this channel and scope, if any."""
    return await session.scalar(
        select(Consent)
        .where(
            Consent.resident_id == resident_id,
            Consent.channel_id == channel_id,
            Consent.scope == scope,
            Consent.withdrawn_at.is_(None),
        )
        .order_by(Consent.id.desc())
        .limit(1)
    )


async def give_consent(
    *,
    session: AsyncSession,
    resident_id: int,
    channel_id: int,
    scope: str,
    purpose: str | Purpose,
) -> Consent:
    """Record a consent (a live one for the same scope is kept as it is), for one of the hub's
    purposes or one a channel states in its own words."""
    code = purpose if isinstance(purpose, Purpose) else None
    # free text: a personal number typed into it is kept masked
    purpose = purposes.english(code, {}) if code else scrub(purpose)
    existing = await active_consent(
        session=session, resident_id=resident_id, channel_id=channel_id, scope=scope
    )
    if existing:
        return existing
    consent = Consent(
        resident_id=resident_id,
        channel_id=channel_id,
        scope=scope,
        purpose=purpose,
        purpose_code=code.value if code else None,
    )
    session.add(consent)
    await session.flush()
    return consent


async def list_consents(
    *, session: AsyncSession, resident_id: int, channel_id: int
) -> list[Consent]:
    """Every consent the resident gave this channel, newest first, withdrawn ones included."""
    query = (
        select(Consent)
        .where(Consent.resident_id == resident_id, Consent.channel_id == channel_id)
        .order_by(Consent.id.desc())
    )
    return list((await session.scalars(query)).all())


async def withdraw_consent(
    *, session: AsyncSession, resident_id: int, channel_id: int, consent_id: int
) -> Consent:
    """Withdraw a consent; the channel is told by webhook."""
    consent = await session.scalar(
        select(Consent).where(
            Consent.id == consent_id,
            Consent.resident_id == resident_id,
            Consent.channel_id == channel_id,
        )
    )
    if consent is None:
        raise NotFound(f"no consent {consent_id}", code="consent_not_found")
    if consent.withdrawn_at is None:
        consent.withdrawn_at = utcnow()
        await outbox.enqueue(
            session=session,
            topic="consent.withdrawn",
            payload={"channel_id": channel_id, "consent_id": consent.id, "scope": consent.scope},
        )
    return consent


@dataclass(frozen=True)
class Verified:
    """What a verification came to: the caller's record (its level raised, or untouched), and
    the person who already holds this number when that is someone else (the caller must then
    prove possession to be linked: `identity.linking`)."""

    resident: Resident
    known_person: Resident | None = None


async def verify_identity(
    *,
    session: AsyncSession,
    vault: Vault,
    channel: Channel,
    found: ChannelResident,
    name: str,
    id_number: str,
    purpose: str | Purpose,
    level: IdentityLevel,
    checked_by: str,
) -> Verified:
    """Record a channel user's verified identity (with consent) at `level`.

    A number another record already holds links nobody to that person: the caller stays a
    separate, unlinked resident and `known_person` says who must prove it is them.
    """
    lookup = vault.lookup_hash("id", id_number)
    resident = found.resident
    if resident.id_number_hash and resident.id_number_hash != lookup:
        raise Conflict("this user is already verified as another person", code="identity_mismatch")
    same_person = await session.scalar(select(Resident).where(Resident.id_number_hash == lookup))
    if same_person is not None and same_person.name_enc is not None:
        # The number alone must not rename a person: the name they verified with must match.
        if vault.decrypt(same_person.name_enc) != name:
            raise Conflict(
                "the name does not match the one verified with this identity number",
                code="identity_mismatch",
                field="name",
            )
    await give_consent(
        session=session,
        resident_id=resident.id,
        channel_id=channel.id,
        scope="identity",
        purpose=purpose,
    )
    if same_person is not None and same_person.id != resident.id:
        await session.flush()
        return Verified(resident=resident, known_person=same_person)
    if resident.id_number_hash is None:
        resident.id_number_enc = vault.encrypt(id_number)
        resident.id_number_hash = lookup
        resident.id_number_masked = mask_id_number(id_number)
        resident.name_enc = vault.encrypt(name)
    if resident.verified_at is None or level.rank > resident.level.rank:
        resident.identity_level = level
        resident.identity_checked_by = checked_by[:120]
        resident.verified_at = utcnow()
    await session.flush()
    await outbox.enqueue(
        session=session,
        topic="resident.verified",
        payload={
            "channel_id": channel.id,
            "user_id": found.link.channel_user_id,
            "level": resident.level.value,
        },
    )
    return Verified(resident=resident)


def require_level(resident: Resident, required: IdentityLevel, *, user_id: str, why: str) -> None:
    """Forbidden (403, naming the level reached and the one needed) below `required`."""
    if resident.level.rank >= required.rank:
        return
    how = (
        "verify it through the city's population registry"
        if required == IdentityLevel.AUTHORITY_CHECKED
        else "verify it"
    )
    raise Forbidden(
        f"{why} needs identity level {required.value} and the resident is at "
        f"{resident.level.value}: {how} with POST /v1/residents/{user_id}/verification",
        code="verification_required"
        if resident.level == IdentityLevel.NONE
        else "identity_level_required",
        field="user_id",
        missing=["verification"],
        level=resident.level.value,
        required=required.value,
    )


def id_number_or_raise(vault: Vault, resident: Resident, *, user_id: str) -> str:
    """The resident's identity number, or Forbidden: a real-name service has nobody to ask
    about until the resident verified."""
    if resident.id_number_enc is None:
        require_level(resident, IdentityLevel.CHANNEL_ASSERTED, user_id=user_id, why="this")
        raise AssertionError("a verified resident has a number")  # pragma: no cover
    return vault.decrypt(resident.id_number_enc)


async def require_consent(
    *, session: AsyncSession, resident: Resident, channel_id: int, scope: str
) -> Consent:
    """The live consent the resident gave for this use, or Forbidden saying what is missing."""
    consent = await active_consent(
        session=session, resident_id=resident.id, channel_id=channel_id, scope=scope
    )
    if consent is None:
        raise Forbidden(
            f"the resident has not consented to '{scope}' for this channel",
            code="consent_required",
            field="consent",
        )
    return consent


async def record_access(
    *,
    session: AsyncSession,
    resident_id: int,
    actor: audit.Actor,
    purpose: Purpose,
    fields: str,
    args: Mapping[str, Any] | None = None,
    stated: str | None = None,
    city_id: int | None = None,
) -> None:
    """Note an access to a resident's personal data, for them and in the audit log: why, as
    one of the hub's purposes (its particulars in `args`: codes, and names in the hub's
    languages), or in the words a channel `stated`."""
    args = dict(args or {})
    # free text: a personal number typed into it is kept masked
    text = scrub(stated) if stated else purposes.english(purpose, args)
    session.add(
        DataAccess(
            resident_id=resident_id,
            city_id=city_id,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_name=actor.name,
            actor_names=dict(actor.names or {}),
            purpose=text,
            purpose_code=purpose.value,
            purpose_args=args,
            fields=fields,
        )
    )
    await audit.append(
        session=session,
        actor=actor,
        action="personal_data.read",
        object_type="resident",
        object_id=resident_id,
        city_id=city_id,
        details={"purpose": text, "fields": fields},
    )


async def list_access(
    *, session: AsyncSession, resident_id: int, before_id: int | None, limit: int
) -> list[DataAccess]:
    """Accesses to the resident's data, newest first."""
    query = (
        select(DataAccess)
        .where(DataAccess.resident_id == resident_id)
        .order_by(DataAccess.id.desc())
        .limit(limit)
    )
    if before_id:
        query = query.where(DataAccess.id < before_id)
    return list((await session.scalars(query)).all())


def display_name(vault: Vault, resident: Resident) -> str | None:
    """The resident's name, masked, for answers."""
    return mask_name(vault.decrypt(resident.name_enc)) if resident.name_enc else None


async def get(*, session: AsyncSession, resident_id: int) -> Resident | None:
    """A resident by id, if any."""
    return await session.get(Resident, resident_id)


async def encrypted_id_numbers(
    *, session: AsyncSession, resident_ids: Sequence[int]
) -> dict[int, bytes]:
    """The residents' encrypted identity numbers (those who have one), for a provider check."""
    return await contact.encrypted_values(
        session=session, resident_ids=resident_ids, column=Resident.id_number_enc
    )


async def get_all_ids(*, session: AsyncSession, limit: int) -> list[int]:
    """The first residents' ids, oldest first (the demo's followers)."""
    return list(await session.scalars(select(Resident.id).order_by(Resident.id).limit(limit)))


async def is_channel_user(*, session: AsyncSession, channel_id: int, resident_id: int) -> bool:
    """Whether the resident is one of the channel's users."""
    found = await session.scalar(
        select(ChannelUser.id)
        .where(ChannelUser.channel_id == channel_id, ChannelUser.resident_id == resident_id)
        .limit(1)
    )
    return found is not None


async def list_all_consents(*, session: AsyncSession, resident_id: int) -> list[Consent]:
    """Every consent the resident gave any channel, newest first, withdrawn ones included
    (what the resident's own page lists; each is withdrawn through `withdraw_consent`)."""
    query = select(Consent).where(Consent.resident_id == resident_id).order_by(Consent.id.desc())
    return list((await session.scalars(query)).all())
