"""Routes of a session's waitlist (channels), under /v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from sqlalchemy import select

from cityhub.appointments import views, waitlist
from cityhub.appointments.models import WaitlistEntry
from cityhub.appointments.schemas import WaitlistCreate, WaitlistRead
from cityhub.cities.deps import CityDep
from cityhub.identity.deps import CurrentChannel
from cityhub.platform.deps import SessionDep
from cityhub.platform.errors import NotFound
from cityhub.platform.idempotency import IdempotencyDep

# Included by appointments.api under its /v1 prefix.
router = APIRouter(tags=["appointments"])
SCOPE = "appointments:write"
BASE = "/cities/{city}/appointments"
PublicId = Annotated[str, Path(max_length=40)]


@router.post(
    BASE + "/sessions/{session_id}/waitlist",
    operation_id="joinWaitlist",
    summary="Join a session's waitlist",
    status_code=201,
    response_model=WaitlistRead,
)
async def join_waitlist(
    session: SessionDep,
    caller: CurrentChannel,
    city: CityDep,
    session_id: PublicId,
    wait_in: WaitlistCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Wait for a place in a full session; a freed place is offered to the first in line
    (webhook `appointment.offered`), who accepts it within the city's offer time."""
    caller.require(SCOPE)
    entry = await waitlist.join_waitlist(
        session=session,
        city=city,
        channel_id=caller.channel.id,
        user_id=wait_in.user_id,
        session_public_id=session_id,
        family_member=wait_in.family_member,
    )
    return await idem.respond(201, await views.waitlist_read(session=session, entry=entry))


@router.get(
    BASE + "/waitlist/{entry_id}",
    operation_id="getWaitlistEntry",
    summary="Get a waitlist entry",
    response_model=WaitlistRead,
)
async def get_waitlist_entry(
    session: SessionDep, caller: CurrentChannel, city: CityDep, entry_id: PublicId
) -> WaitlistRead:
    """A place in a waitlist: the position, or the offer made."""
    caller.require(SCOPE)
    entry = await session.scalar(
        select(WaitlistEntry).where(
            WaitlistEntry.city_id == city.id,
            WaitlistEntry.public_id == entry_id,
            WaitlistEntry.channel_id == caller.channel.id,
        )
    )
    if entry is None:
        raise NotFound(f"no waitlist entry {entry_id!r}", code="waitlist_entry_not_found")
    return await views.waitlist_read(session=session, entry=entry)
