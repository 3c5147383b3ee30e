"""Managing console staff: list, create, change, disable, roles, password resets.

Who may manage whom: the operator everyone; a city admin the staff whose every role is in a
city they administer (so an admin of one city can neither lock out nor take over someone who
also works elsewhere), and never an operator. `admin_cities` is the set of cities the acting
admin administers, None for the operator. A reset password is shown once and must be changed
at the next sign-in (`must_change_password`); every change ends the member's sessions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.identity import audit, security
from cityhub.identity import service as identity
from cityhub.identity.models import Role, StaffRole, StaffSession, StaffUser
from cityhub.platform.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

MIN_PASSWORD = 12
TEMPORARY_PASSWORD_BYTES = 12


@dataclass(frozen=True)
class Member:
    """A staff member with their roles."""

    staff: StaffUser
    roles: list[StaffRole]


def check_password(password: str) -> str:
    """The password if it is long enough, else Unprocessable."""
    if len(password) < MIN_PASSWORD:
        raise Unprocessable(
            f"a password has at least {MIN_PASSWORD} characters", code="weak_password",
            field="password",
        )  # fmt: skip
    return password


def _may_manage(roles: Sequence[StaffRole], admin_cities: set[int] | None) -> bool:
    if admin_cities is None:
        return True
    return bool(roles) and all(r.city_id is not None and r.city_id in admin_cities for r in roles)


def _check_roles(roles: Sequence[tuple[int | None, Role]], admin_cities: set[int] | None) -> None:
    for city_id, role in roles:
        if (city_id is None) != (role == Role.OPERATOR):
            raise Unprocessable(
                "the operator role is for every city; other roles name one city", field="roles"
            )
        if admin_cities is not None and (city_id is None or city_id not in admin_cities):
            raise Forbidden("you can give roles only in cities you administer", field="roles")


def _check_providers(
    roles: Sequence[tuple[int | None, Role]], providers: Mapping[int, str] | None
) -> None:
    """A provider_staff role given now names its provider; no other role names one."""
    bound = providers or {}
    staff_cities = {c for c, r in roles if r == Role.PROVIDER_STAFF and c is not None}
    if any(not bound.get(c) for c in staff_cities):
        raise Unprocessable(
            "a provider_staff role names the provider the member works for",
            code="provider_required",
            field="provider",
        )
    if set(bound) - staff_cities:
        raise Unprocessable(
            "only a provider_staff role is bound to a provider",
            code="provider_unused",
            field="provider",
        )


async def get_all(
    *, session: AsyncSession, admin_cities: set[int] | None, include_inactive: bool = True
) -> list[Member]:
    """Staff by username: everyone for the operator, else those with a role in the cities."""
    query = select(StaffUser).order_by(StaffUser.username)
    if admin_cities is not None:
        query = query.where(
            StaffUser.id.in_(
                select(StaffRole.staff_id).where(StaffRole.city_id.in_(sorted(admin_cities)))
            )
        )
    if not include_inactive:
        query = query.where(StaffUser.active.is_(True))
    members = list((await session.scalars(query)).all())
    roles = (
        await session.scalars(
            select(StaffRole).where(StaffRole.staff_id.in_([m.id for m in members]))
        )
    ).all()
    by_staff: dict[int, list[StaffRole]] = {}
    for role in roles:
        by_staff.setdefault(role.staff_id, []).append(role)
    return [Member(m, by_staff.get(m.id, [])) for m in members]


async def get_or_raise(
    *, session: AsyncSession, username: str, admin_cities: set[int] | None
) -> Member:
    """A member the acting admin may see (a role in one of their cities), else NotFound."""
    staff = await identity.get_staff_by_username(session=session, username=username)
    roles = await identity.roles_of(session=session, staff_id=staff.id) if staff else []
    visible = admin_cities is None or any(r.city_id in admin_cities for r in roles)
    if staff is None or not visible:
        raise NotFound(f"no staff member {username!r}", code="staff_not_found", field="username")
    return Member(staff, roles)


def may_manage(member: Member, admin_cities: set[int] | None) -> bool:
    """Whether the acting admin may change this member (see the module's rule)."""
    return _may_manage(member.roles, admin_cities)


def require_manageable(member: Member, admin_cities: set[int] | None) -> None:
    """Forbidden unless the acting admin may change this member (see the module's rule)."""
    if not _may_manage(member.roles, admin_cities):
        raise Forbidden(
            "this staff member also works outside the cities you administer: ask the operator",
            code="staff_outside_your_cities",
        )


async def _audit(
    session: AsyncSession, actor: audit.Actor, action: str, member: Member, **details: object
) -> None:
    cities = sorted({r.city_id for r in member.roles if r.city_id is not None})
    await audit.append(
        session=session,
        actor=actor,
        action=action,
        object_type="staff",
        object_id=member.staff.username,
        city_id=cities[0] if len(cities) == 1 else None,
        details={"cities": cities, **details},
    )


async def _end_sessions(session: AsyncSession, staff_id: int, keep: int | None = None) -> None:
    query = delete(StaffSession).where(StaffSession.staff_id == staff_id)
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    await session.execute(query)


async def create(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    admin_cities: set[int] | None,
    username: str,
    display_name: str,
    password: str | None,
    roles: Sequence[tuple[int | None, Role]],
    providers: Mapping[int, str] | None = None,
) -> tuple[Member, str | None]:
    """A new member; without a password, a temporary one (returned once) that must be
    changed at the first sign-in. `providers`: the provider of each provider_staff role, by
    city id."""
    _check_roles(roles, admin_cities)
    _check_providers(roles, providers)
    temporary = None if password else security.new_secret(TEMPORARY_PASSWORD_BYTES)
    chosen = check_password(password) if password else temporary
    assert chosen is not None
    staff = await identity.create_staff(
        session=session,
        username=username,
        display_name=display_name,
        password="",
        password_hash=await security.hash_password_async(chosen),
        roles=roles,
        providers=providers,
    )
    staff.must_change_password = temporary is not None
    member = Member(staff, await identity.roles_of(session=session, staff_id=staff.id))
    await _audit(session, actor, "staff.create", member, roles=[r.role.value for r in member.roles])
    return member, temporary


async def update(
    *, session: AsyncSession, actor: audit.Actor, member: Member, display_name: str
) -> Member:
    """Rename a member."""
    member.staff.display_name = display_name
    await _audit(session, actor, "staff.update", member, changes=["display_name"])
    return member


async def set_active(
    *, session: AsyncSession, actor: audit.Actor, member: Member, active: bool
) -> Member:
    """Disable (their sessions end at once) or enable a member's account."""
    member.staff.active = active
    if not active:
        await _end_sessions(session, member.staff.id)
    await _audit(session, actor, "staff.enable" if active else "staff.disable", member)
    return member


async def reset_password(
    *, session: AsyncSession, actor: audit.Actor, member: Member, password: str | None = None
) -> str:
    """Give the member a new password (a temporary one unless given), to be changed at the
    next sign-in; their sessions end. The password, shown once."""
    chosen = check_password(password) if password else security.new_secret(TEMPORARY_PASSWORD_BYTES)
    member.staff.password_hash = await security.hash_password_async(chosen)
    member.staff.must_change_password = True
    await _end_sessions(session, member.staff.id)
    await _audit(session, actor, "staff.password_reset", member)
    return chosen


async def change_own_password(
    *, session: AsyncSession, staff: StaffUser, session_id: int, current: str, new: str
) -> None:
    """The member chooses a new password (the current one proves it is them); their other
    sessions end, this one goes on."""
    ok = await security.verify_password_async(staff.password_hash, current)
    if not ok:
        raise Unauthorized("the current password is wrong", code="invalid_credentials")
    if new == current:
        raise Unprocessable(
            "choose a password other than the current one", code="same_password", field="new"
        )
    staff.password_hash = await security.hash_password_async(check_password(new))
    staff.must_change_password = False
    await _end_sessions(session, staff.id, keep=session_id)
    member = Member(staff, await identity.roles_of(session=session, staff_id=staff.id))
    actor = audit.Actor(type="staff", id=staff.username, name=staff.display_name)
    await _audit(session, actor, "staff.password_change", member)


async def add_role(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    admin_cities: set[int] | None,
    member: Member,
    city_id: int | None,
    role: Role,
    provider: str | None = None,
) -> Member:
    """Give the member a role in a city (the admin's own cities only); a provider_staff role
    names the provider the member works for."""
    _check_roles([(city_id, role)], admin_cities)
    _check_providers([(city_id, role)], {city_id: provider} if city_id and provider else {})
    if any(r.city_id == city_id and r.role == role for r in member.roles):
        raise Conflict("the member already has this role", code="role_exists", field="role")
    session.add(StaffRole(staff_id=member.staff.id, city_id=city_id, role=role, provider=provider))
    await session.flush()
    member = Member(
        member.staff, await identity.roles_of(session=session, staff_id=member.staff.id)
    )
    await _audit(
        session, actor, "staff.role_add", member, role=role.value, city_id=city_id,
        provider=provider,
    )  # fmt: skip
    return member


async def remove_role(
    *,
    session: AsyncSession,
    actor: audit.Actor,
    admin_cities: set[int] | None,
    member: Member,
    city_id: int | None,
    role: Role,
) -> Member:
    """Take a role away (in the admin's own cities only); the member's sessions end."""
    _check_roles([(city_id, role)], admin_cities)
    found = next((r for r in member.roles if r.city_id == city_id and r.role == role), None)
    if found is None:
        raise NotFound("the member has no such role", code="role_not_found", field="role")
    await session.delete(found)
    await _end_sessions(session, member.staff.id)
    await session.flush()
    await _audit(session, actor, "staff.role_remove", member, role=role.value, city_id=city_id)
    return Member(member.staff, [r for r in member.roles if r is not found])
