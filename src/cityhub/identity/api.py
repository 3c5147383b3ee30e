"""Routes of tokens, console sessions, channels, residents, consent and the audit log."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cityhub.cities import service as cities
from cityhub.cities.models import City
from cityhub.connectors.deps import HubDep
from cityhub.connectors.sms import SmsFailed
from cityhub.identity import audit, flows, linking, residents, security
from cityhub.identity import service as identity
from cityhub.identity import verification as verification_flow
from cityhub.identity.models import IdentityLevel, Role, StaffRole, StaffUser
from cityhub.identity.schemas import (
    AuditRead,
    ChannelRead,
    ConsentCreate,
    ConsentRead,
    DataAccessRead,
    LinkCodeCreate,
    LinkRead,
    PendingLinkRead,
    ResidentCreate,
    ResidentRead,
    StaffLogin,
    StaffRead,
    StaffSessionRead,
    TokenRead,
    VerificationCreate,
    staff_read,
)
from cityhub.platform import jsonbody
from cityhub.platform.clients import client_address
from cityhub.platform.deps import (
    CurrentChannel,
    CurrentStaff,
    DbDep,
    RowId,
    SessionDep,
    SettingsDep,
    ThrottleDep,
    VaultDep,
    clear_session_cookie,
    require_staff_role,
    set_session_cookie,
)
from cityhub.platform.errors import BadRequest, Unauthorized, Unavailable, Unprocessable
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.paging import Page, PageDep
from cityhub.platform.uow import keep

router = APIRouter(prefix="/v1", tags=["identity"])
UserId = Annotated[str, Path(max_length=128, description="the channel's own id for its user")]


async def _token_form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            data = jsonbody.loads(await request.body())
        except ValueError:  # also a body that is not UTF-8
            raise BadRequest(
                "the body is not valid JSON", code="malformed_json", field="body"
            ) from None
        if not isinstance(data, dict):
            raise BadRequest("send a JSON object", field="body")
        # A JSON null is an absent field, not the text "None".
        return {k: str(v) for k, v in data.items() if v is not None}
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials", code="invalid_client") from None
    return client_id, secret


TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many wrong secrets from this client id or address: wait the "
        "`Retry-After` seconds (code `too_many_attempts`)",
        "content": {"application/problem+json": {}},
    }
}


# No request transaction here: the secret is checked with none open (see identity/flows.py).
@router.post("/oauth/token", response_model=TokenRead, tags=["oauth"], responses=TOO_MANY)
async def token(
    request: Request, db: DbDep, throttle: ThrottleDep, settings: SettingsDep
) -> TokenRead:
    """OAuth2 client credentials (RFC 6749 4.4): form fields or HTTP Basic for the client.
    Wrong secrets are limited per client id and per address (429 with `Retry-After`)."""
    form = await _token_form(request)
    if form.get("grant_type") != "client_credentials":
        raise BadRequest(
            "grant_type must be client_credentials",
            code="unsupported_grant_type",
            field="grant_type",
        )
    credentials = _basic_auth(request) or (form.get("client_id", ""), form.get("client_secret", ""))
    if not all(credentials):
        raise Unauthorized("send client_id and client_secret", code="invalid_client")
    channel = await flows.authenticate_channel(
        db=db,
        throttle=throttle,
        settings=settings,
        client_id=credentials[0],
        client_secret=credentials[1],
        address=client_address(request),
    )
    scopes = identity.grantable_scopes(channel, form.get("scope"))
    access_token, ttl = security.issue_channel_token(
        settings=settings, channel_id=channel.id, scopes=scopes
    )
    return TokenRead(access_token=access_token, expires_in=ttl, scope=" ".join(sorted(scopes)))


async def _staff_read(
    session: SessionDep, staff: StaffUser, roles: Sequence[StaffRole]
) -> StaffRead:
    city_ids = {r.city_id for r in roles if r.city_id}
    found = await cities.get_all_cities(session=session, city_ids=city_ids, after=None, limit=1000)
    slugs = {c.id: c.slug for c in found}
    pairs = [(r, slugs.get(r.city_id) if r.city_id else None) for r in roles]
    return staff_read(staff.username, staff.display_name, pairs)


@router.post("/staff/session", response_model=StaffSessionRead, tags=["staff"], responses=TOO_MANY)
async def sign_in(
    request: Request,
    session: SessionDep,
    db: DbDep,
    throttle: ThrottleDep,
    settings: SettingsDep,
    login: StaffLogin,
    response: Response,
) -> StaffSessionRead:
    """Sign in to the console: sets the session cookie, answers the CSRF token to send back.
    Wrong passwords are limited per username and per address (429 with `Retry-After`)."""
    token_value, record, staff = await flows.sign_in_staff(
        session=session,
        db=db,
        throttle=throttle,
        settings=settings,
        username=login.username,
        password=login.password,
        address=client_address(request),
    )
    set_session_cookie(response, token=token_value, settings=settings)
    roles = await identity.roles_of(session=session, staff_id=staff.id)
    read = await _staff_read(session, staff, roles)
    return StaffSessionRead(
        staff=read,
        csrf_token=record.csrf_token,
        expires_at=record.expires_at,
        password_change_required=staff.must_change_password,
    )


@router.delete("/staff/session", status_code=204, tags=["staff"])
async def sign_out(session: SessionDep, staff: CurrentStaff) -> Response:
    """Sign out of the console."""
    await identity.end_session(session=session, session_id=staff.session.id)
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/staff/me", response_model=StaffRead, tags=["staff"])
async def me(session: SessionDep, staff: CurrentStaff) -> StaffRead:
    """The signed-in staff member and their roles."""
    return await _staff_read(session, staff.staff, staff.roles)


@router.get("/channel", response_model=ChannelRead, tags=["channels"])
async def own_channel(session: SessionDep, caller: CurrentChannel) -> ChannelRead:
    """The calling channel and the cities it has grants in."""
    ids = await cities.granted_city_ids(session=session, channel_id=caller.channel.id)
    found = await cities.get_all_cities(session=session, city_ids=ids, after=None, limit=1000)
    return ChannelRead.of(caller.channel, [c.slug for c in found])


@router.get("/channels", response_model=list[ChannelRead], tags=["channels"])
async def list_channels(session: SessionDep, staff: CurrentStaff) -> list[ChannelRead]:
    """Every channel (staff: needed to grant services)."""
    # A city admin grants services to channels, so must see them; the operator sees all.
    if staff.city_ids(Role.CITY_ADMIN, Role.AUDITOR) == set():
        require_staff_role(staff, None)
    return [ChannelRead.of(c, []) for c in await identity.get_all_channels(session=session)]


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


@router.post("/residents", response_model=ResidentRead, status_code=201, tags=["residents"])
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


@router.get("/residents/{user_id}", response_model=ResidentRead, tags=["residents"])
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
        purpose="show the user their profile",
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
    response_model=list[PendingLinkRead],
    tags=["residents"],
)
async def pending_links(
    session: SessionDep, caller: CurrentChannel, user_id: UserId
) -> list[PendingLinkRead]:
    """Other channels' live requests to be linked to this user's person, for the person to
    confirm here (where they are known) or ignore."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await linking.pending_for(session=session, resident_id=found.resident.id)
    names = {c.id: c.name for c in await identity.get_all_channels(session=session)}
    return [
        PendingLinkRead(
            id=r.id,
            channel=names.get(r.channel_id, "?"),
            created_at=r.created_at,
            expires_at=r.expires_at,
        )
        for r in rows
        if r.channel_id != caller.channel.id
    ]


@router.post(
    "/residents/{user_id}/link-requests/{request_id}/confirmation",
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


@router.get("/residents/{user_id}/consents", response_model=list[ConsentRead], tags=["residents"])
async def list_consents(
    session: SessionDep, caller: CurrentChannel, user_id: UserId
) -> list[ConsentRead]:
    """What the user consented to on this channel, withdrawn consents included."""
    caller.require("residents:read")
    found = await residents.get_for_channel_or_raise(
        session=session, channel_id=caller.channel.id, user_id=user_id
    )
    rows = await residents.list_consents(
        session=session, resident_id=found.resident.id, channel_id=caller.channel.id
    )
    return [ConsentRead.of(c) for c in rows]


@router.post(
    "/residents/{user_id}/consents",
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
    "/residents/{user_id}/consents/{consent_id}", response_model=ConsentRead, tags=["residents"]
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
    "/residents/{user_id}/data-access", response_model=Page[DataAccessRead], tags=["residents"]
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


@router.get("/audit", response_model=Page[AuditRead], tags=["audit"])
async def list_audit(
    session: SessionDep,
    staff: CurrentStaff,
    page: PageDep,
    city: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=80)] = None,
    actor: Annotated[str | None, Query(max_length=80)] = None,
) -> Page[AuditRead]:
    """The audit log, newest first: an auditor or admin sees their cities, the operator all."""
    allowed = staff.city_ids(Role.AUDITOR, Role.CITY_ADMIN)
    city_ids: list[int] | None = None if allowed is None else sorted(allowed)
    if city:
        found: City | None = await cities.get_city_by_slug(session=session, slug=city)
        if found is None or (allowed is not None and found.id not in allowed):
            city_ids = []
        else:
            city_ids = [found.id]
    rows = await audit.list_entries(
        session=session,
        city_ids=city_ids,
        action=action,
        actor_id=actor,
        before_id=page.after,
        limit=page.limit,
    )
    return page.page([AuditRead.of(e) for e in rows], rows[-1].id if rows else None)
