"""Staff's steps on a complaint, the console's forms and the API's decision alike: assign it to
a member of staff who may answer it, escalate it, resolve it with the answer.

Each is `service.move`: one conditional UPDATE from the statuses the step may come from (so a
step taken twice, or racing the escalation job, is taken once and the other answers Conflict),
stored in the complaint's history, audited, told to the channel and to the resident. Who may
take a step (city admins, the biller's provider staff on their provider's complaints) is the
caller's check; who may be assigned is checked here.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.complaints import service
from cityhub.complaints.models import Complaint, ComplaintStatus
from cityhub.identity import audit
from cityhub.identity import service as identity
from cityhub.identity.enums import Role
from cityhub.platform.errors import Unprocessable

NOTE_MAX = 1000


def _text(value: str, field: str, what: str) -> str:
    text = value.strip()[:NOTE_MAX]
    if not text:
        raise Unprocessable(f"write {what} first", code="complaint_note_missing", field=field)
    return text


async def may_answer(*, session: AsyncSession, row: Complaint, username: str) -> bool:
    """Whether the member is active and answers for the complaint: a city admin of its city,
    or provider staff of its biller."""
    member = await identity.get_staff_by_username(session=session, username=username)
    if member is None or not member.active:
        return False
    biller = await cities.get_service(
        session=session, city_id=row.city_id, service_id=row.service_id
    )
    provider = biller.provider if biller is not None else None
    return any(
        r.city_id == row.city_id
        and (
            r.role == Role.CITY_ADMIN or (r.role == Role.PROVIDER_STAFF and r.provider == provider)
        )
        for r in await identity.roles_of(session=session, staff_id=member.id)
    )


async def assign(
    *, session: AsyncSession, row: Complaint, actor: audit.Actor, username: str
) -> Complaint:
    """Give a logged or assigned complaint to a member of staff who may answer it."""
    username = username.strip()[:80]
    if not username or not await may_answer(session=session, row=row, username=username):
        raise Unprocessable(
            f"{username or 'nobody'} cannot answer this complaint: name a city admin or the "
            "biller's provider staff",
            code="complaint_assignee_invalid",
            field="assignee",
        )
    row.assigned_to = f"staff:{username}"
    return await service.move(
        session=session,
        row=row,
        to=ComplaintStatus.ASSIGNED,
        actor=actor,
        note=f"assigned to {row.assigned_to}",  # the pages say it in the reader's language
    )


async def escalate(
    *, session: AsyncSession, row: Complaint, actor: audit.Actor, reason: str
) -> Complaint:
    """Escalate an open complaint before its deadline, saying why."""
    return await service.move(
        session=session,
        row=row,
        to=ComplaintStatus.ESCALATED,
        actor=actor,
        note=_text(reason, "note", "why it is escalated"),
    )


async def resolve(
    *, session: AsyncSession, row: Complaint, actor: audit.Actor, resolution: str
) -> Complaint:
    """Resolve an open or escalated complaint with the answer the resident reads."""
    answer = _text(resolution, "resolution", "the answer")
    return await service.move(
        session=session,
        row=row,
        to=ComplaintStatus.RESOLVED,
        actor=actor,
        note=answer,
        resolution=answer,
    )
