"""Patients: the channel's user themself, or a family member they added with that person's
identity checked. A patient is known to the rules by the keyed hash of their identity number,
so one person booked by two relatives is still one patient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.appointments.models import FamilyMember
from cityhub.appointments.schedules import new_id
from cityhub.appointments.schemas import FamilyMemberCreate, FamilyMemberRead
from cityhub.connectors.types import Subject
from cityhub.identity import residents
from cityhub.identity.enums import IdentityLevel
from cityhub.identity.pii import Vault, mask_id_number, mask_name
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from cityhub.identity.models import Resident

SELF = "self"


@dataclass(frozen=True)
class Patient:
    """Who a booking is for, and who booked it."""

    resident_id: int  # the channel user's resident (the booker)
    family_member_id: int | None
    family_public_id: str | None
    patient_hash: str


async def verified_resident(
    *,
    session: AsyncSession,
    channel_id: int,
    user_id: str,
    required: IdentityLevel | None = None,
) -> Resident:
    """The channel's user, who must have verified their identity (booking is real-name), to
    the `required` level of the service when one is given (403 naming both levels below it)."""
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=channel_id, user_id=user_id
    )
    resident = found.resident
    if resident.verified_at is None or resident.id_number_hash is None:
        raise Forbidden(
            "booking is real-name: the resident must verify their identity first with "
            f"POST /v1/residents/{user_id}/verification",
            code="verification_required",
            field="user_id",
        )
    if required is not None:
        residents.require_level(resident, required, user_id=user_id, why="this booking")
    return resident


async def add(
    *,
    session: AsyncSession,
    vault: Vault,
    channel_id: int,
    user_id: str,
    member_in: FamilyMemberCreate,
) -> FamilyMember:
    """Add a family member (their identity number is checked as the resident's was)."""
    resident = await verified_resident(session=session, channel_id=channel_id, user_id=user_id)
    lookup = vault.lookup_hash("id", member_in.id_number)
    if lookup == resident.id_number_hash:
        raise Conflict("that is the resident themself", code="family_member_is_self")
    known = await session.scalar(
        select(FamilyMember).where(
            FamilyMember.resident_id == resident.id, FamilyMember.id_number_hash == lookup
        )
    )
    if known is not None:
        if vault.decrypt(known.name_enc) != member_in.name:
            raise Conflict(
                "this identity number was added with another name",
                code="identity_mismatch",
                field="name",
            )
        return known
    member = FamilyMember(
        public_id=new_id("fm"),
        resident_id=resident.id,
        relation=member_in.relation,
        name_enc=vault.encrypt(member_in.name),
        id_number_enc=vault.encrypt(member_in.id_number),
        id_number_hash=lookup,
        id_number_masked=mask_id_number(member_in.id_number),
        verified_at=utcnow(),
    )
    session.add(member)
    await session.flush()
    return member


def read(vault: Vault, member: FamilyMember) -> FamilyMemberRead:
    """The API shape (masked)."""
    return FamilyMemberRead(
        id=member.public_id,
        name=mask_name(vault.decrypt(member.name_enc)),
        id_number=member.id_number_masked,
        relation=member.relation,
        verified_at=member.verified_at,
    )


async def get(*, session: AsyncSession, member_id: int) -> FamilyMember | None:
    """A family member by id, if any."""
    return await session.get(FamilyMember, member_id)


async def get_all(*, session: AsyncSession, channel_id: int, user_id: str) -> list[FamilyMember]:
    """The user's family members."""
    resident = await verified_resident(session=session, channel_id=channel_id, user_id=user_id)
    rows = await session.scalars(
        select(FamilyMember)
        .where(FamilyMember.resident_id == resident.id)
        .order_by(FamilyMember.id)
    )
    return list(rows.all())


async def patient(
    *,
    session: AsyncSession,
    channel_id: int,
    user_id: str,
    family_member: str | None,
    required: IdentityLevel | None = None,
) -> Patient:
    """The patient of a booking: the user (verified to the service's `required` level), or
    one of *their* family members (another resident's family member does not exist for them:
    404)."""
    resident = await verified_resident(
        session=session, channel_id=channel_id, user_id=user_id, required=required
    )
    if family_member in (None, "", SELF):
        assert resident.id_number_hash is not None
        return Patient(resident.id, None, None, resident.id_number_hash)
    member = await session.scalar(
        select(FamilyMember).where(
            FamilyMember.public_id == family_member, FamilyMember.resident_id == resident.id
        )
    )
    if member is None:
        raise NotFound(
            f"{user_id} has no family member {family_member!r}",
            code="family_member_not_found",
            field="family_member",
        )
    return Patient(resident.id, member.id, member.public_id, member.id_number_hash)


async def subject(
    *, session: AsyncSession, vault: Vault, resident_id: int, family_member_id: int | None
) -> Subject:
    """The patient as the hospital needs to know them (identity number and name)."""
    if family_member_id is not None:
        member = await session.get(FamilyMember, family_member_id)
        assert member is not None
        return Subject(
            id_number=vault.decrypt(member.id_number_enc), name=vault.decrypt(member.name_enc)
        )
    resident = await residents.get(session=session, resident_id=resident_id)
    assert resident is not None and resident.id_number_enc is not None
    name = vault.decrypt(resident.name_enc) if resident.name_enc else None
    return Subject(id_number=vault.decrypt(resident.id_number_enc), name=name)
