"""Linking a channel's user to a person the hub already knows, on proof of possession.

Names and identity numbers leak, so knowing them proves nothing. When a verification names a
person another record already holds, the caller stays a separate, unlinked resident and a
link request is made. It is granted when:

- the six-digit code sent through the SMS adapter to the phone *on the person's record* comes
  back (never to a number the caller gives; `identity.codes` rules: 5 minutes, 5 tries), or
- a channel where the person is already linked confirms the request for its own user.

Asking for codes is limited per person and per channel, as the portal's sign-in codes are per
phone and per client (`platform.throttle`). What one channel then does to an object another
channel filed (`cross_channel`) is allowed only for a proven link, audited, and announced to
the filing channel by a signed webhook.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub import outbox
from cityhub.identity import audit, codes
from cityhub.identity.models import (
    Channel,
    ChannelUser,
    Consent,
    DataAccess,
    LinkProof,
    LinkRequest,
    LinkStatus,
    Resident,
)
from cityhub.identity.pii import Vault
from cityhub.identity.residents import ChannelResident, movers
from cityhub.platform.db import utcnow
from cityhub.platform.errors import Conflict, Forbidden, NotFound, Unprocessable
from cityhub.platform.throttle import Throttle

CODE_PURPOSE = "link-code"
PER_PERSON = 3
PER_CHANNEL = 30
PERSON_LIMIT = codes.limit(
    "link.code.person",
    PER_PERSON,
    "too_many_codes_person",
    "too many link codes were sent to this person; wait a few minutes",
    field="id_number",
)
CHANNEL_LIMIT = codes.limit(
    "link.code.channel",
    PER_CHANNEL,
    "too_many_codes_channel",
    "this channel asked for too many link codes; wait a few minutes",
)
# Links that count as proven: a channel may act on what another channel filed for them.
PROVEN = frozenset({LinkProof.OWN, LinkProof.SMS_CODE, LinkProof.CHANNEL_CONFIRMATION})
LINKED = "resident.linked"
CROSS_CHANNEL = "resident.cross_channel_action"


@dataclass(frozen=True)
class IssuedLink:
    """A link request and, when the person's record has a phone, the code to send to it (in
    clear only here, in the text message and, in demo mode, on the page)."""

    request: LinkRequest
    code: str | None
    phone: str | None


async def take_limits(*, throttle: Throttle, channel_id: int, person_id: int) -> None:
    """Count a link request against the channel and the person (429 while either waits).
    Taken in transactions of their own: call it while the caller holds none."""
    # The asker first: a channel that must wait uses up nothing of the person's allowance.
    await throttle.take(CHANNEL_LIMIT, str(channel_id))
    await throttle.take(PERSON_LIMIT, str(person_id))


async def request_link(
    *,
    session: AsyncSession,
    vault: Vault,
    channel: Channel,
    found: ChannelResident,
    target: Resident,
) -> IssuedLink:
    """A pending request to link `found` to `target`, with a code for the target's phone
    (`take_limits` first)."""
    now = utcnow()
    phone = vault.decrypt(target.phone_enc) if target.phone_enc else None
    row = LinkRequest(
        channel_id=channel.id,
        channel_user_id=found.link.channel_user_id,
        resident_id=found.resident.id,
        target_resident_id=target.id,
        phone_masked=target.phone_masked if phone else None,
        attempts_left=codes.ATTEMPTS if phone else 0,
        status=LinkStatus.PENDING,
        expires_at=now + codes.CODE_TTL,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    code = None
    if phone:
        code = codes.new_code()
        row.code_hash = codes.code_hash(vault, CODE_PURPOSE, row.id, code)
    await audit.append(
        session=session,
        actor=audit.Actor(type="channel", id=str(channel.id), name=channel.slug),
        action="resident.link_requested",
        object_type="resident",
        object_id=target.id,
        details={"request": row.id, "by_resident": found.resident.id, "code_sent": bool(code)},
    )
    await session.flush()
    return IssuedLink(request=row, code=code, phone=phone)


async def get_request(*, session: AsyncSession, request_id: int) -> LinkRequest | None:
    """A link request by id, whoever asked for it (for a page that shows its masked phone)."""
    return await session.get(LinkRequest, request_id)


async def get_request_or_raise(
    *, session: AsyncSession, request_id: int, channel_id: int, user_id: str
) -> LinkRequest:
    """The channel user's own link request (another's does not exist for them)."""
    row = await session.get(LinkRequest, request_id)
    if row is None or row.channel_id != channel_id or row.channel_user_id != user_id:
        raise NotFound(f"no link request {request_id}", code="link_request_not_found")
    return row


async def confirm_with_code(
    *, session: AsyncSession, vault: Vault, request: LinkRequest, code: str
) -> Resident:
    """Link on the code sent to the person's phone (a wrong try counts: commit even when
    this raises)."""
    _require_pending(request)
    if request.code_hash is None:
        raise Conflict(
            "the person's record has no phone: only a channel where they are linked can "
            "confirm this link",
            code="link_needs_channel",
        )
    await codes.use(
        session=session,
        vault=vault,
        table=LinkRequest,
        purpose=CODE_PURPOSE,
        row=request,
        code=code,
    )
    return await _link(session, request, LinkProof.SMS_CODE, confirmed_by=None)


async def get_linked(*, session: AsyncSession, request_id: int) -> LinkRequest:
    """A link request by id (after it was confirmed)."""
    row = await session.get(LinkRequest, request_id)
    if row is None:
        raise NotFound(f"no link request {request_id}", code="link_request_not_found")
    return row


async def pending_for(*, session: AsyncSession, resident_id: int) -> list[LinkRequest]:
    """Live requests from other channels to be linked to this person, newest first."""
    rows = await session.scalars(
        select(LinkRequest)
        .where(
            LinkRequest.target_resident_id == resident_id,
            LinkRequest.status == LinkStatus.PENDING,
            LinkRequest.expires_at > utcnow(),
        )
        .order_by(LinkRequest.id.desc())
        .limit(20)
    )
    return list(rows.all())


async def confirm_by_channel(
    *, session: AsyncSession, channel: Channel, found: ChannelResident, request_id: int
) -> Resident:
    """A channel where the person is linked (with proof) confirms another channel's request
    for its own user: the person said yes where they are known."""
    request = await session.get(LinkRequest, request_id)
    if request is None or request.target_resident_id != found.resident.id:
        raise NotFound(f"no link request {request_id} for this user", code="link_request_not_found")
    if request.channel_id == channel.id:
        raise Forbidden(
            "a channel cannot confirm its own link request", code="link_confirmation_refused"
        )
    require_proven(found)
    _require_pending(request)
    return await _link(session, request, LinkProof.CHANNEL_CONFIRMATION, confirmed_by=channel.id)


def require_proven(found: ChannelResident) -> None:
    """Forbidden unless the channel's user was linked to its person with proof."""
    if found.link.link_proof not in PROVEN:
        raise Forbidden(
            "this user was linked to the person on name and number alone; confirm the link "
            "with a code to the person's phone first",
            code="link_not_proven",
            field="user_id",
        )


def _require_pending(request: LinkRequest) -> None:
    if request.status != LinkStatus.PENDING or request.expires_at <= utcnow():
        raise Unprocessable(
            "the link request has expired or was used; verify again for a new one",
            code="code_expired",
        )


async def _link(
    session: AsyncSession, request: LinkRequest, proof: LinkProof, *, confirmed_by: int | None
) -> Resident:
    """Move the channel's user, what it consented to and the record of who saw its data onto
    the person, whose access log must show every access."""
    taken = await session.execute(
        update(LinkRequest)
        .where(LinkRequest.id == request.id, LinkRequest.status == LinkStatus.PENDING)
        .values(
            status=LinkStatus.LINKED,
            proof=proof,
            confirmed_by_channel_id=confirmed_by,
            used_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Unprocessable("the link request was used already", code="code_expired")
    link = await session.scalar(
        select(ChannelUser).where(
            ChannelUser.channel_id == request.channel_id,
            ChannelUser.channel_user_id == request.channel_user_id,
        )
    )
    target = await session.get(Resident, request.target_resident_id)
    assert link is not None and target is not None
    source_id = link.resident_id
    if source_id != target.id:
        link.resident_id, link.link_proof = target.id, proof
        await session.execute(
            update(Consent)
            .where(Consent.resident_id == source_id, Consent.channel_id == request.channel_id)
            .values(resident_id=target.id)
        )
        await session.execute(
            update(DataAccess)
            .where(DataAccess.resident_id == source_id)
            .values(resident_id=target.id)
        )
        for move in movers():
            await move(session, source_id, target.id)
        source = await session.get(Resident, source_id)
        if source is not None and source.phone_enc and not target.phone_enc:
            target.phone_enc = source.phone_enc
            target.phone_hash = source.phone_hash
            target.phone_masked = source.phone_masked
    await audit.append(
        session=session,
        actor=audit.Actor(
            type="channel",
            id=str(confirmed_by or request.channel_id),
            name="link confirmation" if confirmed_by else "link code",
        ),
        action="resident.linked",
        object_type="resident",
        object_id=target.id,
        details={"request": request.id, "proof": proof.value, "from_resident": source_id},
    )
    await outbox.enqueue(
        session=session,
        topic=LINKED,
        payload={
            "channel_id": request.channel_id,
            "user_id": request.channel_user_id,
            "proof": proof.value,
        },
    )
    await session.flush()
    return target


async def cross_channel(
    *,
    session: AsyncSession,
    channel: Channel,
    found: ChannelResident,
    filed_by_channel_id: int,
    action: str,
    object_type: str,
    object_id: str,
    city_id: int | None,
) -> None:
    """Allow `channel` to act on an object another channel filed for the same person only
    through a proven link; audit it and tell the filing channel (a signed webhook). Nothing
    happens for the filing channel itself."""
    if filed_by_channel_id == channel.id:
        return
    require_proven(found)
    await audit.append(
        session=session,
        actor=audit.Actor(type="channel", id=str(channel.id), name=channel.slug),
        action=f"{object_type}.{action}.cross_channel",
        object_type=object_type,
        object_id=object_id,
        city_id=city_id,
        details={"filed_by_channel": filed_by_channel_id, "resident": found.resident.id},
    )
    await outbox.enqueue(
        session=session,
        topic=CROSS_CHANNEL,
        city_id=city_id,
        payload={
            "channel_id": filed_by_channel_id,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "by_channel": channel.slug,
        },
    )
