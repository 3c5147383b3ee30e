"""Routes of managing staff (the operator; city admins for their cities) and channels (the
operator), and of a staff member choosing their own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cities import service as cities
from cityhub.identity import channels, staff
from cityhub.identity import service as identity
from cityhub.identity.admin_schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelUpdate,
    PasswordChange,
    PasswordReset,
    PasswordResetRead,
    RoleIn,
    StaffAdminRead,
    StaffCreate,
    StaffCreated,
    StaffUpdate,
)
from cityhub.identity.deps import CurrentStaff, StaffCaller, VaultDep, require_staff_role
from cityhub.identity.models import Role
from cityhub.identity.schemas import ChannelRead, RoleRead
from cityhub.platform.deps import SessionDep, SettingsDep
from cityhub.platform.errors import Forbidden
from cityhub.platform.idempotency import IdempotencyDep
from cityhub.platform.outbound import OutboundPolicy
from cityhub.platform.paging import Page, PageDep

router = APIRouter(prefix="/v1", tags=["staff"])
Username = Annotated[str, Path(max_length=80)]
ChannelSlug = Annotated[str, Path(max_length=40)]


def admin_cities(caller: StaffCaller) -> set[int] | None:
    """The cities the caller administers (None: every city); Forbidden if none."""
    found = caller.city_ids(Role.CITY_ADMIN)
    if found == set():
        raise Forbidden("this needs the city_admin role", code="role_required")
    return found


async def slugs(session: AsyncSession) -> dict[int, str]:
    """Every city's slug by id."""
    found = await cities.get_all_cities(session=session, after=None, limit=100_000)
    return {c.id: c.slug for c in found}


def providers_in(roles: list[RoleIn], pairs: list[tuple[int | None, Role]]) -> dict[int, str]:
    """The provider each role names, by the city id `roles_in` found."""
    return {c: r.provider for r, (c, _) in zip(roles, pairs, strict=True) if c and r.provider}


async def roles_in(session: AsyncSession, roles: list[RoleIn]) -> list[tuple[int | None, Role]]:
    """Roles as (city id, role), the cities found by slug."""
    pairs: list[tuple[int | None, Role]] = []
    for r in roles:
        city_id = (
            (await cities.get_city_or_raise(session=session, slug=r.city)).id if r.city else None
        )
        pairs.append((city_id, r.role))
    return pairs


def member_read(member: staff.Member, names: dict[int, str]) -> StaffAdminRead:
    """The API shape of a member."""
    s = member.staff
    return StaffAdminRead(
        username=s.username,
        display_name=s.display_name,
        active=s.active,
        must_change_password=s.must_change_password,
        roles=[
            RoleRead(
                city=names.get(r.city_id) if r.city_id else None,
                role=r.role.value,
                provider=r.provider,
            )
            for r in member.roles
        ],
        created_at=s.created_at,
        last_login_at=s.last_login_at,
    )


@router.post(
    "/staff/me/password",
    operation_id="changeOwnPassword",
    summary="Choose a new password",
    status_code=204,
)
async def change_password(
    session: SessionDep, caller: CurrentStaff, change: PasswordChange
) -> Response:
    """Choose a new password (required after a reset); other sessions end."""
    await staff.change_own_password(
        session=session,
        staff=caller.staff,
        session_id=caller.session.id,
        current=change.current,
        new=change.new,
    )
    return Response(status_code=204)


@router.get(
    "/staff",
    operation_id="listStaff",
    summary="List staff members",
    response_model=Page[StaffAdminRead],
)
async def list_staff(
    session: SessionDep,
    caller: CurrentStaff,
    page: PageDep,
    include_inactive: Annotated[bool, Query(description="also disabled accounts")] = True,
) -> Page[StaffAdminRead]:
    """Staff: every member for the operator, those of their cities for a city admin."""
    found = await staff.get_all(
        session=session, admin_cities=admin_cities(caller), include_inactive=include_inactive
    )
    names = await slugs(session)
    return page.slice([member_read(m, names) for m in found], key=lambda x: x.username)


@router.post(
    "/staff",
    operation_id="createStaff",
    summary="Add a staff member",
    status_code=201,
    response_model=StaffCreated,
)
async def create_staff(
    session: SessionDep, caller: CurrentStaff, staff_in: StaffCreate, idem: IdempotencyDep
) -> JSONResponse:
    """Add a member with roles in the caller's cities; without a password, a temporary one is
    answered once and must be changed at the first sign-in."""
    member, temporary = await staff.create(
        session=session,
        actor=caller.actor,
        admin_cities=admin_cities(caller),
        username=staff_in.username,
        display_name=staff_in.display_name or staff_in.username,
        password=staff_in.password,
        roles=(pairs := await roles_in(session, staff_in.roles)),
        providers=providers_in(staff_in.roles, pairs),
    )
    read = member_read(member, await slugs(session))
    return await idem.respond(201, StaffCreated(**read.model_dump(), temporary_password=temporary))


async def _member(session: AsyncSession, caller: StaffCaller, username: str) -> staff.Member:
    return await staff.get_or_raise(
        session=session, username=username, admin_cities=admin_cities(caller)
    )


@router.get(
    "/staff/{username}",
    operation_id="getStaff",
    summary="Get a staff member",
    response_model=StaffAdminRead,
)
async def get_staff(
    session: SessionDep, caller: CurrentStaff, username: Username
) -> StaffAdminRead:
    """One member (another city's members do not exist here)."""
    return member_read(await _member(session, caller, username), await slugs(session))


@router.patch(
    "/staff/{username}",
    operation_id="updateStaff",
    summary="Change a staff member",
    response_model=StaffAdminRead,
)
async def update_staff(
    session: SessionDep, caller: CurrentStaff, username: Username, staff_in: StaffUpdate
) -> StaffAdminRead:
    """Rename, disable (`active: false`: their sessions end) or enable a member."""
    member = await _member(session, caller, username)
    staff.require_manageable(member, admin_cities(caller))
    if member.staff.id == caller.staff.id and staff_in.active is False:
        raise Forbidden("you cannot disable your own account", code="own_account", field="active")
    if staff_in.display_name is not None:
        member = await staff.update(
            session=session, actor=caller.actor, member=member, display_name=staff_in.display_name
        )
    if staff_in.active is not None:
        member = await staff.set_active(
            session=session, actor=caller.actor, member=member, active=staff_in.active
        )
    return member_read(member, await slugs(session))


@router.post(
    "/staff/{username}/password-reset",
    operation_id="resetStaffPassword",
    summary="Reset a member's password",
    response_model=PasswordResetRead,
)
async def reset_password(
    session: SessionDep,
    caller: CurrentStaff,
    username: Username,
    reset: PasswordReset,
    idem: IdempotencyDep,
) -> JSONResponse:
    """A new password for the member, answered once, to be changed at their next sign-in."""
    member = await _member(session, caller, username)
    staff.require_manageable(member, admin_cities(caller))
    password = await staff.reset_password(
        session=session, actor=caller.actor, member=member, password=reset.password
    )
    return await idem.respond(
        200, PasswordResetRead(username=member.staff.username, temporary_password=password)
    )


@router.post(
    "/staff/{username}/roles",
    operation_id="addStaffRole",
    summary="Give a member a role",
    status_code=201,
    response_model=StaffAdminRead,
)
async def add_role(
    session: SessionDep,
    caller: CurrentStaff,
    username: Username,
    role_in: RoleIn,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Give a member a role in one of the caller's cities."""
    member = await _member(session, caller, username)
    ((city_id, role),) = await roles_in(session, [role_in])
    member = await staff.add_role(
        session=session,
        actor=caller.actor,
        admin_cities=admin_cities(caller),
        member=member,
        city_id=city_id,
        role=role,
        provider=role_in.provider,
    )
    return await idem.respond(201, member_read(member, await slugs(session)))


@router.delete(
    "/staff/{username}/roles/{role}",
    operation_id="removeStaffRole",
    summary="Take a role away",
    status_code=204,
)
async def remove_role(
    session: SessionDep,
    caller: CurrentStaff,
    username: Username,
    role: Role,
    city: Annotated[str | None, Query(max_length=40, description="none: the operator role")] = None,
) -> Response:
    """Take a role in one of the caller's cities away (the member's sessions end)."""
    member = await _member(session, caller, username)
    ((city_id, found),) = await roles_in(session, [RoleIn(city=city, role=role)])
    await staff.remove_role(
        session=session,
        actor=caller.actor,
        admin_cities=admin_cities(caller),
        member=member,
        city_id=city_id,
        role=found,
    )
    return Response(status_code=204)


channels_router = APIRouter(prefix="/v1", tags=["channels"])


@channels_router.post(
    "/channels",
    operation_id="createChannel",
    summary="Register a channel",
    status_code=201,
    response_model=ChannelCreated,
)
async def create_channel(
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    caller: CurrentStaff,
    channel_in: ChannelCreate,
    idem: IdempotencyDep,
) -> JSONResponse:
    """Register a channel (operator); its client secret and webhook secret are answered once."""
    require_staff_role(caller, None)
    channel, secret, hook_secret = await channels.create(
        session=session,
        vault=vault,
        actor=caller.actor,
        slug=channel_in.slug,
        name=channel_in.name,
        names=channel_in.names,
        scopes=channel_in.scopes,
        webhook_url=channel_in.webhook_url,
        outbound=OutboundPolicy.from_settings(settings),
    )
    read = ChannelRead.of(channel, [])
    return await idem.respond(
        201, ChannelCreated(**read.model_dump(), client_secret=secret, webhook_secret=hook_secret)
    )


@channels_router.get(
    "/channels/{slug}",
    operation_id="getChannel",
    summary="Get a channel",
    response_model=ChannelRead,
)
async def get_channel(session: SessionDep, caller: CurrentStaff, slug: ChannelSlug) -> ChannelRead:
    """One channel and the cities it has grants in (staff)."""
    channel = await identity.get_channel_by_slug_or_raise(session=session, slug=slug)
    ids = await cities.granted_city_ids(session=session, channel_id=channel.id)
    visible = caller.city_ids()
    names = await slugs(session)
    shown = sorted(names[i] for i in ids if visible is None or i in visible)
    return ChannelRead.of(channel, shown)


@channels_router.patch(
    "/channels/{slug}",
    operation_id="updateChannel",
    summary="Change a channel",
    response_model=ChannelRead,
)
async def update_channel(
    session: SessionDep,
    settings: SettingsDep,
    caller: CurrentStaff,
    slug: ChannelSlug,
    channel_in: ChannelUpdate,
) -> ChannelRead:
    """Change a channel's scopes, status (`suspended` disables it), name or webhook (operator)."""
    require_staff_role(caller, None)
    channel = await identity.get_channel_by_slug_or_raise(session=session, slug=slug)
    updated = await channels.update(
        session=session,
        actor=caller.actor,
        channel=channel,
        outbound=OutboundPolicy.from_settings(settings),
        **channel_in.model_dump(exclude_unset=True),
    )
    return ChannelRead.of(updated, [])
