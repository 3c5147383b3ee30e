"""`cityhub staff ...` and `cityhub channels ...`: console accounts and partner channels, as
the operator manages them from the shell (audited as the CLI). Creating again what exists
changes nothing and says so, so a setup script can run twice."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

staff_app = typer.Typer(help="Console staff accounts.", no_args_is_help=True)
channels_app = typer.Typer(help="Partner channels.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@staff_app.command("create")
def staff_create(
    username: str,
    role: Annotated[str, typer.Option(help="operator, city_admin, provider_staff or auditor")],
    city: Annotated[str | None, typer.Option(help="the city's slug (not for operator)")] = None,
    provider: Annotated[
        str | None, typer.Option(help="provider_staff: the provider they work for")
    ] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
    temporary_password: Annotated[
        bool,
        typer.Option(help="make up a password, print it once; it is changed at first sign-in"),
    ] = False,
    password: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Create a console account (prompts for its password unless --temporary-password)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, console, out, run_domain, run_with_db
    from cityhub.identity import service as identity
    from cityhub.identity import staff
    from cityhub.identity.models import Role

    if not temporary_password and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(db: Database, _s: Settings) -> str | None:
        async with db.unit_of_work() as session:
            if await identity.get_staff_by_username(session=session, username=username):
                return "exists"
            city_id = None
            if city:
                city_id = (await cities.get_city_or_raise(session=session, slug=city)).id
            _member, made_up = await staff.create(
                session=session, actor=cli_actor(), admin_cities=None, username=username,
                display_name=display_name or username, password=password,
                roles=[(city_id, Role(role))],
                providers={city_id: provider} if city_id and provider else None,
            )  # fmt: skip
            return made_up

    result = run_domain(lambda: run_with_db(work))
    if result == "exists":
        console.print(f"staff {username} exists: nothing changed")
    elif result:
        console.print(f"staff {username} created; temporary password (changed at first sign-in):")
        out.print(result)
    else:
        console.print(f"staff {username} created")


@staff_app.command("list")
def staff_list(
    city: Annotated[str | None, typer.Option(help="only those with a role in this city")] = None,
    as_json: JsonOption = False,
) -> None:
    """Console accounts with their roles."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.identity import staff
    from cityhub.identity.admin_api import member_read, slugs

    async def work(db: Database, _s: Settings) -> list[dict[str, Any]]:
        async with db.unit_of_work() as session:
            only = (
                {(await cities.get_city_or_raise(session=session, slug=city)).id} if city else None
            )
            names = await slugs(session)
            found = await staff.get_all(session=session, admin_cities=only)
            return [member_read(m, names).model_dump(mode="json") for m in found]

    rows = run_domain(lambda: run_with_db(work))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("username", "name", "roles", "active", "must change password", "last sign-in")
    for r in rows:
        roles = ", ".join(
            f"{x['role']}@{x['city']}" if x["city"] else x["role"] for x in r["roles"]
        )
        table.add_row(r["username"], r["display_name"], roles, str(r["active"]),
                      str(r["must_change_password"]), r["last_login_at"] or "-")  # fmt: skip
    out.print(table)


def _change(username: str, change: str, **options: Any) -> Any:
    """Run one change of a member as the operator."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import cli_actor, run_domain, run_with_db
    from cityhub.identity import staff
    from cityhub.identity.models import Role

    async def work(db: Database, _s: Settings) -> Any:
        async with db.unit_of_work() as session:
            member = await staff.get_or_raise(session=session, username=username, admin_cities=None)
            actor = cli_actor()
            if change == "active":
                await staff.set_active(session=session, actor=actor, member=member, **options)
            elif change == "name":
                await staff.update(session=session, actor=actor, member=member, **options)
            elif change == "password":
                return await staff.reset_password(session=session, actor=actor, member=member)
            else:
                city_id = None
                if options["city"]:
                    city_id = (
                        await cities.get_city_or_raise(session=session, slug=options["city"])
                    ).id
                if change == "add-role":
                    await staff.add_role(session=session, actor=actor, admin_cities=None,
                                         member=member, city_id=city_id, role=Role(options["role"]),
                                         provider=options.get("provider"))  # fmt: skip
                else:
                    await staff.remove_role(session=session, actor=actor, admin_cities=None,
                                            member=member, city_id=city_id,
                                            role=Role(options["role"]))  # fmt: skip
            return None

    return run_domain(lambda: run_with_db(work))


@staff_app.command("update")
def staff_update(username: str, display_name: Annotated[str, typer.Option()]) -> None:
    """Rename a member."""
    from cityhub.cli.helpers import console

    _change(username, "name", display_name=display_name)
    console.print(f"staff {username} renamed")


@staff_app.command("disable")
def staff_disable(username: str) -> None:
    """Disable an account: its sessions end and it cannot sign in."""
    from cityhub.cli.helpers import console

    _change(username, "active", active=False)
    console.print(f"staff {username} disabled")


@staff_app.command("enable")
def staff_enable(username: str) -> None:
    """Enable a disabled account again."""
    from cityhub.cli.helpers import console

    _change(username, "active", active=True)
    console.print(f"staff {username} enabled")


@staff_app.command("reset-password")
def staff_reset_password(username: str) -> None:
    """Give a member a temporary password (printed once) to change at their next sign-in."""
    from cityhub.cli.helpers import console, out

    password = _change(username, "password")
    console.print(f"temporary password of {username} (changed at the next sign-in):")
    out.print(password)


@staff_app.command("add-role")
def staff_add_role(
    username: str,
    role: Annotated[str, typer.Option(help="operator, city_admin, provider_staff or auditor")],
    city: Annotated[str | None, typer.Option(help="the city's slug (not for operator)")] = None,
    provider: Annotated[
        str | None, typer.Option(help="provider_staff: the provider they work for")
    ] = None,
) -> None:
    """Give a member a role in a city (provider_staff: bound to --provider)."""
    from cityhub.cli.helpers import console

    _change(username, "add-role", role=role, city=city, provider=provider)
    console.print(f"staff {username}: {role} {city or ''} added")


@staff_app.command("remove-role")
def staff_remove_role(
    username: str,
    role: Annotated[str, typer.Option()],
    city: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Take a role away (the member's sessions end)."""
    from cityhub.cli.helpers import console

    _change(username, "remove-role", role=role, city=city)
    console.print(f"staff {username}: {role} {city or ''} removed")


# -- channels ------------------------------------------------------------------------------


@channels_app.command("create")
def channels_create(
    slug: str,
    name: str,
    scopes: Annotated[str, typer.Option(help="space-separated scopes")] = "catalogue:read",
    webhook_url: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a channel; prints its client id and secrets once (as JSON)."""
    from sqlalchemy import select

    from cityhub.cli.helpers import cli_actor, console, out, run_domain, run_with_db
    from cityhub.identity import channels
    from cityhub.identity.models import Channel
    from cityhub.identity.pii import Vault
    from cityhub.platform.outbound import OutboundPolicy

    async def work(db: Database, settings: Settings) -> dict[str, str] | None:
        async with db.unit_of_work() as session:
            if await session.scalar(select(Channel.id).where(Channel.slug == slug)):
                return None
            channel, secret, hook_secret = await channels.create(
                session=session, vault=Vault.from_settings(settings), actor=cli_actor(),
                slug=slug, name=name, scopes=scopes.split(), webhook_url=webhook_url,
                outbound=OutboundPolicy.from_settings(settings),
            )  # fmt: skip
            return {"client_id": channel.client_id, "client_secret": secret,
                    "webhook_secret": hook_secret}  # fmt: skip

    made = run_domain(lambda: run_with_db(work))
    if made is None:
        console.print(f"channel {slug} exists: nothing changed (its secret is not shown again)")
        raise typer.Exit(0)
    out.print_json(json.dumps(made))


@channels_app.command("list")
def channels_list(as_json: JsonOption = False) -> None:
    """Every channel with its scopes and status."""
    from cityhub.cli.helpers import out, run_domain, run_with_db
    from cityhub.identity import service as identity
    from cityhub.identity.schemas import ChannelRead

    async def work(db: Database, _s: Settings) -> list[dict[str, Any]]:
        async with db.unit_of_work() as session:
            found = await identity.get_all_channels(session=session)
            return [ChannelRead.of(c, []).model_dump(mode="json") for c in found]

    rows = run_domain(lambda: run_with_db(work))
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("slug", "name", "client_id", "scopes", "status")
    for r in rows:
        table.add_row(r["slug"], r["name"], r["client_id"], " ".join(r["scopes"]), r["status"])
    out.print(table)


def _update_channel(slug: str, **changes: Any) -> list[str]:
    from cityhub.cli.helpers import cli_actor, run_domain, run_with_db
    from cityhub.identity import channels
    from cityhub.identity import service as identity
    from cityhub.platform.outbound import OutboundPolicy

    async def work(db: Database, settings: Settings) -> list[str]:
        async with db.unit_of_work() as session:
            found = await identity.get_channel_by_slug_or_raise(session=session, slug=slug)
            scopes = set(found.scopes.split())
            if "scopes" in changes and changes["scopes"] is not None:
                scopes = set(changes["scopes"])
            scopes |= set(changes.pop("add_scopes", None) or [])
            scopes -= set(changes.pop("remove_scopes", None) or [])
            changes["scopes"] = sorted(scopes)
            updated = await channels.update(
                session=session, actor=cli_actor(), channel=found,
                outbound=OutboundPolicy.from_settings(settings), **changes,
            )  # fmt: skip
            return [updated.status.value, *updated.scopes.split()]

    result: list[str] = run_domain(lambda: run_with_db(work))
    return result


@channels_app.command("update")
def channels_update(
    slug: str,
    scopes: Annotated[str | None, typer.Option(help="the whole new set, space-separated")] = None,
    add_scope: Annotated[list[str] | None, typer.Option(help="add this scope (repeatable)")] = None,
    remove_scope: Annotated[list[str] | None, typer.Option(help="remove it (repeatable)")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    webhook_url: Annotated[str | None, typer.Option(help="empty: no webhooks")] = None,
) -> None:
    """Change a channel's scopes (a removed scope stops working at once), name or webhook."""
    from cityhub.cli.helpers import console

    status, *now = _update_channel(
        slug, scopes=scopes.split() if scopes is not None else None, add_scopes=add_scope,
        remove_scopes=remove_scope, name=name, webhook_url=webhook_url,
    )  # fmt: skip
    console.print(f"channel {slug} ({status}): {' '.join(now)}")


@channels_app.command("disable")
def channels_disable(slug: str) -> None:
    """Suspend a channel: no new tokens, and its tokens stop working at once."""
    from cityhub.cli.helpers import console
    from cityhub.identity.models import ChannelStatus

    _update_channel(slug, status=ChannelStatus.SUSPENDED)
    console.print(f"channel {slug} suspended")


@channels_app.command("enable")
def channels_enable(slug: str) -> None:
    """Make a suspended channel active again."""
    from cityhub.cli.helpers import console
    from cityhub.identity.models import ChannelStatus

    _update_channel(slug, status=ChannelStatus.ACTIVE)
    console.print(f"channel {slug} active")
