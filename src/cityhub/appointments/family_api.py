"""Routes of the family members a channel's user books appointments for, under /v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cityhub.appointments import family
from cityhub.appointments.schemas import FamilyMemberCreate, FamilyMemberRead
from cityhub.identity.deps import CurrentChannel, VaultDep
from cityhub.platform.deps import SessionDep
from cityhub.platform.paging import Page, PageDep

# Included by appointments.api under its /v1 prefix.
router = APIRouter(tags=["appointments"])
SCOPE = "appointments:write"
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]


@router.post(
    "/residents/{user_id}/family-members",
    operation_id="addFamilyMember",
    summary="Add a family member",
    status_code=201,
    response_model=FamilyMemberRead,
    tags=["residents"],
)
async def add_family_member(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    member_in: FamilyMemberCreate,
) -> FamilyMemberRead:
    """Add a family member the user books for (their identity number is checked)."""
    caller.require(SCOPE)
    member = await family.add(
        session=session,
        vault=vault,
        channel_id=caller.channel.id,
        user_id=user_id,
        member_in=member_in,
    )
    return family.read(vault, member)


@router.get(
    "/residents/{user_id}/family-members",
    operation_id="listFamilyMembers",
    summary="List a user's family members",
    response_model=Page[FamilyMemberRead],
    tags=["residents"],
)
async def list_family_members(
    session: SessionDep, vault: VaultDep, caller: CurrentChannel, user_id: UserId, page: PageDep
) -> Page[FamilyMemberRead]:
    """The user's family members (masked)."""
    caller.require(SCOPE)
    rows = await family.get_all(session=session, channel_id=caller.channel.id, user_id=user_id)
    return page.slice([family.read(vault, m) for m in rows], key=lambda x: x.id)
