"""Routes of a channel's residents: registration, identity verification, links proven by a
code or a channel, consent and the personal-data access log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from cityhub.connectors.deps import HubDep
from cityhub.connectors.sms import SmsFailed
from cityhub.identity import linking, residents
from cityhub.identity import service as identity
from cityhub.identity import verification as verification_flow
from cityhub.identity.deps import CurrentChannel, VaultDep
from cityhub.identity.models import IdentityLevel
from cityhub.identity.purposes import Purpose
from cityhub.identity.schemas import (
    ConsentCreate,
    ConsentRead,
    DataAccessRead,
    LinkCodeCreate,
    LinkRead,
    PendingLinkRead,
    ResidentCreate,
    ResidentRead,
    VerificationCreate,
)
from cityhub.platform.deps import RowId, SessionDep, SettingsDep, ThrottleDep
from cityhub.platform.errors import Unavailable, Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.openapi import route_meta
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.uow import keep

router = APIRouter(prefix="/v1", tags=["identity"])
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]


def _resident_read(
    vault: VaultDep, found: residents.ChannelResident, link: LinkRead | None = None
) -> ResidentRead:
    resident = found.resident
    return ResidentRead(
        user_id=found.link.channel_user_id,
        verified=resident.level != IdentityLevel.NONE,
        identity_level=resident.level,
        name=residents.display_name(vault, resident),
        phone=resident.phone_masked,
        id_number=resident.id_number_masked,
        created_at=found.link.created_at,
        link=link,
    )


@router.post(
    "/residents",
    operation_id="registerResident",
    summary="Register a channel user",
    response_model=ResidentRead,
    status_code=201,
    tags=["residents"],
    openapi_extra=route_meta(also_succeeds={200: "the user was known: updated"}),
)
async def register_resident(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    resident_in: ResidentCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Register the channel's user (201), or update the known one (200)."""
    caller.require("residents:write")
    found, created = await residents.register(
        session=session,
        vault=vault,
        channel=caller.channel,
        user_id=resident_in.user_id,
        phone=resident_in.phone,
    )
    return await idem.respond(201 if created else 200, _resident_read(vault, found))


@router.get(
    "/residents/{user_id}",
    operation_id="getResident",
    summary="Get a channel user",
    response_model=ResidentRead,
    tags=["residents"],
)
async def get_resident(
    session: SessionDep, vault: VaultDep, caller: CurrentChannel, user_id: UserId
) -> ResidentRead:
    """The channel's user, masked. Another channel's users do not exist here."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    await residents.record_access(
        session=session,
        resident_id=found.resident.id,
        actor=caller.actor,
        purpose=Purpose.PROFILE,
        fields="name, phone, id_number (masked)",
    )
    return _resident_read(vault, found)


LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "The number belongs to a person the hub already knows: the user stays "
        "a separate, unlinked resident until the link is proven (`link`: a code went to the "
        "phone on that person's record, or a channel where they are linked must confirm)",
        "model": ResidentRead,
    },
    429: {
        "description": "Too many link codes for this person or from this channel (`Retry-After`)",
        "content": {"application/problem+json": {}},
    },
}


@router.post(
    "/residents/{user_id}/verification",
    operation_id="verifyResident",
    summary="Verify a user's identity",
    response_model=ResidentRead,
    tags=["residents"],
    responses=LINK_RESPONSES,
)
async def verify_resident(
    session: SessionDep,
    vault: VaultDep,
    hub: HubDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    caller: CurrentChannel,
    user_id: UserId,
    verification: VerificationCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Verify the user's identity with their consent: through the named city's population
    registry (`authority_checked`), or on the channel's word (`channel_asserted`). A number
    that belongs to a person the hub already knows links nobody: 202 with `link`, to prove
    with `POST .../link-requests/{id}/code` or a confirmation from a channel where the person
    is linked."""
    caller.require("residents:write")
    claim = verification_flow.Claim(
        name=verification.name,
        id_number=verification.id_number,
        liveness_token=verification.liveness_token,
    )
    outcome = await verification_flow.verify(
        session=session,
        vault=vault,
        hub=hub,
        throttle=throttle,
        channel=caller.channel,
        user_id=user_id,
        claim=claim,
        city_slug=verification.city,
        purpose=verification.purpose,
    )
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    if outcome.link is None:
        return await idem.respond(200, _resident_read(vault, found))
    try:
        demo_code = await verification_flow.send_link_code(
            session=session, settings=settings, hub=hub, issued=outcome.link, app="another app"
        )
    except SmsFailed as exc:
        raise Unavailable(f"the code could not be sent: {exc.detail}", code="sms_failed") from None
    link = LinkRead.of(outcome.link.request, demo_code)
    return await idem.respond(202, _resident_read(vault, found, link))


@router.post(
    "/residents/{user_id}/link-requests/{request_id}/code",
    operation_id="proveLink",
    summary="Prove a link with the code sent",
    response_model=ResidentRead,
    tags=["residents"],
)
async def prove_link(
    session: SessionDep,
    vault: VaultDep,
    caller: CurrentChannel,
    user_id: UserId,
    request_id: RowId,
    code_in: LinkCodeCreate,
) -> ResidentRead:
    """Enter the code sent to the person's phone: the user is linked to that person (a wrong
    code uses up one of 5 tries)."""
    caller.require("residents:write")
    request = await linking.get_request_or_raise(
        session=session, request_id=request_id, channel_id=caller.channel.id, user_id=user_id
    )
    try:
        await linking.confirm_with_code(
            session=session, vault=vault, request=request, code=code_in.code
        )
    except Unprocessable:
        await keep(session)  # the wrong try counts
        raise
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    return _resident_read(vault, found)


@router.get(
    "/residents/{user_id}/link-requests",
    operation_id="listPendingLinks",
    summary="List pending link requests",
    response_model=Page[PendingLinkRead],
    tags=["residents"],
)
async def pending_links(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, page: PageDep
) -> Page[PendingLinkRead]:
    """Other channels' live requests to be linked to this user's person, for the person to
    confirm here (where they are known) or ignore."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await linking.pending_for(session=session, resident_id=found.resident.id)
    names = {c.id: c.name for c in await identity.get_all_channels(session=session)}
    return page.slice(
        [
            PendingLinkRead(
                id=r.id,
                channel=names.get(r.channel_id, "?"),
                created_at=r.created_at,
                expires_at=r.expires_at,
            )
            for r in rows
            if r.channel_id != caller.channel.id
        ],
        key=lambda x: x.id,
    )


@router.post(
    "/residents/{user_id}/link-requests/{request_id}/confirmation",
    operation_id="confirmLink",
    summary="Confirm another channel's link request",
    response_model=PendingLinkRead,
    tags=["residents"],
)
async def confirm_link(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, request_id: RowId
) -> PendingLinkRead:
    """The person, signed in here, confirms another channel's request to be linked to them
    (only for a user linked here with proof)."""
    caller.require("residents:write")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    await linking.confirm_by_channel(
        session=session, channel=caller.channel, found=found, request_id=request_id
    )
    rows = await linking.get_linked(session=session, request_id=request_id)
    return PendingLinkRead(
        id=rows.id,
        channel=caller.channel.name,
        created_at=rows.created_at,
        expires_at=rows.expires_at,
    )


@router.get(
    "/residents/{user_id}/consents",
    operation_id="listConsents",
    summary="List a user's consents",
    response_model=Page[ConsentRead],
    tags=["residents"],
)
async def list_consents(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, page: PageDep
) -> Page[ConsentRead]:
    """What the user consented to on this channel, withdrawn consents included."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await residents.list_consents(
        session=session, resident_id=found.resident.id, channel_id=caller.channel.id
    )
    return page.slice([ConsentRead.of(c) for c in rows], key=lambda x: x.id)


@router.post(
    "/residents/{user_id}/consents",
    operation_id="giveConsent",
    summary="Record a consent",
    response_model=ConsentRead,
    status_code=201,
    tags=["residents"],
)
async def give_consent(
    session: SessionDep,
    caller: CurrentChannel,
    user_id: UserId,
    consent_in: ConsentCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Record the user's consent for a scope and purpose."""
    caller.require("residents:write")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    consent = await residents.give_consent(
        session=session,
        resident_id=found.resident.id,
        channel_id=caller.channel.id,
        scope=consent_in.scope,
        purpose=consent_in.purpose,
    )
    return await idem.respond(201, ConsentRead.of(consent))


@router.delete(
    "/residents/{user_id}/consents/{consent_id}",
    operation_id="withdrawConsent",
    summary="Withdraw a consent",
    response_model=ConsentRead,
    tags=["residents"],
)
async def withdraw_consent(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, consent_id: RowId
) -> ConsentRead:
    """Withdraw a consent (the record stays, marked withdrawn)."""
    caller.require("residents:write")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    consent = await residents.withdraw_consent(
        session=session,
        resident_id=found.resident.id,
        channel_id=caller.channel.id,
        consent_id=consent_id,
    )
    return ConsentRead.of(consent)


@router.get(
    "/residents/{user_id}/data-access",
    operation_id="listDataAccess",
    summary="List accesses to a user's personal data",
    response_model=Page[DataAccessRead],
    tags=["residents"],
)
async def list_data_access(
    session: SessionDep, caller: CurrentChannel, user_id: UserId, page: PageDep
) -> Page[DataAccessRead]:
    """Every access to the user's personal data: who, when, and for what purpose."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await residents.list_access(
        session=session, resident_id=found.resident.id, before_id=page.after, limit=page.limit
    )
    return page.page([DataAccessRead.of(a) for a in rows], rows[-1].id if rows else None)
