"""`cityhub services|grants ...`: a city's services and who may offer them, from the shell."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.cli.cities import (
    CityOption,
    JsonOption,
    NameEn,
    NameHans,
    NameHant,
    _names,
    _run,
    _say,
    _table,
)

services_app = typer.Typer(help="A city's services.", no_args_is_help=True)
grants_app = typer.Typer(help="Which channel may offer which service.", no_args_is_help=True)


# -- services ------------------------------------------------------------------------------


def _config(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        raise typer.BadParameter("--config must be a JSON object") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("--config must be a JSON object")
    return value


@services_app.command("create")
def services_create(
    city: CityOption,
    code: str,
    category: Annotated[str, typer.Option(help="a category's code (cityhub categories list)")],
    kind: Annotated[str, typer.Option(help="bill, appointment, query, lottery, notice, request")],
    provider: Annotated[str, typer.Option(help="who provides it, as people read it")],
    connector: Annotated[str, typer.Option(help="e.g. simulator:water, or http")],
    config: Annotated[str | None, typer.Option(help="connector_config as JSON")] = None,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
) -> None:
    """Add a service to a city's catalogue."""
    from sqlalchemy import select

    from cityhub.cities import service
    from cityhub.cities.models import Service
    from cityhub.cities.schemas import ServiceCreate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> bool:
        found = await service.get_city_or_raise(session=session, slug=city)
        exists = select(Service.id).where(Service.city_id == found.id, Service.code == code)
        if await session.scalar(exists):
            return False
        service_in = ServiceCreate.model_validate({
            "code": code, "category": category, "kind": kind, "provider": provider,
            "connector": connector, "connector_config": _config(config) or {},
            "names": _names(name_en or code.replace("-", " ").title(), name_zh_hans, name_zh_hant),
        })  # fmt: skip
        await service.create_service(session=session, actor=cli_actor(), city=found,
                                     service_in=service_in)  # fmt: skip
        return True

    _say(f"service {code} in {city} {'created' if _run(work) else 'exists: nothing changed'}")


@services_app.command("list")
def services_list(city: CityOption, as_json: JsonOption = False) -> None:
    """A city's services with their connectors and status."""
    from cityhub.cities import service
    from cityhub.cities.schemas import ServiceAdminRead

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await service.get_city_or_raise(session=session, slug=city)
        rows = await service.get_all_services(session=session, city_id=found.id, limit=100_000)
        return [ServiceAdminRead.of(s, found).model_dump(mode="json", by_alias=True) for s in rows]

    rows = [{**r, "name": r["names"]["en"]} for r in _run(work)]
    _table(rows, ["code", "name", "category", "kind", "connector", "status"], as_json)


def _update_service(city: str, code: str, **changes: Any) -> None:
    from cityhub.cities import service
    from cityhub.cities.schemas import ServiceUpdate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> None:
        found = await service.get_city_or_raise(session=session, slug=city)
        row = await service.get_service_or_raise(session=session, city_id=found.id, code=code)
        service_in = ServiceUpdate(**{k: v for k, v in changes.items() if v is not None})
        await service.update_service(session=session, actor=cli_actor(), service=row,
                                     service_in=service_in)  # fmt: skip

    _run(work)


@services_app.command("update")
def services_update(
    city: CityOption,
    code: str,
    category: Annotated[str | None, typer.Option()] = None,
    provider: Annotated[str | None, typer.Option()] = None,
    connector: Annotated[str | None, typer.Option()] = None,
    config: Annotated[str | None, typer.Option(help="connector_config as JSON")] = None,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
) -> None:
    """Change a service."""
    _update_service(city, code, category=category, provider=provider, connector=connector,
                    connector_config=_config(config),
                    names=_names(name_en, name_zh_hans, name_zh_hant))  # fmt: skip
    _say(f"service {code} in {city} updated")


@services_app.command("disable")
def services_disable(
    city: CityOption,
    code: str,
    retire: Annotated[bool, typer.Option(help="for good (else paused)")] = False,
) -> None:
    """Pause a service (channels no longer see it), or retire it."""
    from cityhub.cities.models import ServiceStatus

    status = ServiceStatus.RETIRED if retire else ServiceStatus.PAUSED
    _update_service(city, code, status=status)
    _say(f"service {code} in {city} {status.value}")


@services_app.command("enable")
def services_enable(city: CityOption, code: str) -> None:
    """Make a paused service active again."""
    from cityhub.cities.models import ServiceStatus

    _update_service(city, code, status=ServiceStatus.ACTIVE)
    _say(f"service {code} in {city} active")


# -- grants --------------------------------------------------------------------------------


@grants_app.command("create")
def grants_create(
    city: CityOption,
    channel: Annotated[str, typer.Option(help="the channel's slug")],
    service_code: Annotated[str, typer.Option("--service", help="the service's code")],
) -> None:
    """Let a channel offer a service of the city (never exclusive)."""
    from cityhub.cities import service
    from cityhub.cli.helpers import cli_actor
    from cityhub.identity import service as identity
    from cityhub.platform.errors import Conflict

    async def work(session: AsyncSession) -> bool:
        found = await service.get_city_or_raise(session=session, slug=city)
        partner = await identity.get_channel_by_slug_or_raise(session=session, slug=channel)
        row = await service.get_service_or_raise(session=session, city_id=found.id,
                                                 code=service_code)  # fmt: skip
        try:
            await service.create_grant(session=session, actor=cli_actor(), city=found,
                                       channel=partner, service=row, staff_id=None)  # fmt: skip
        except Conflict as exc:
            if exc.code != "grant_exists":
                raise
            return False
        return True

    made = _run(work)
    _say(f"{channel} {'may now offer' if made else 'already offers'} {service_code} in {city}")


@grants_app.command("list")
def grants_list(city: CityOption, as_json: JsonOption = False) -> None:
    """Which channel offers which service in the city."""
    from cityhub.cities import service
    from cityhub.cities.schemas import GrantRead

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await service.get_city_or_raise(session=session, slug=city)
        rows = await service.get_all_grants(session=session, city_id=found.id, limit=100_000)
        return [GrantRead.of(g, found, c, s).model_dump(mode="json") for g, c, s in rows]

    _table(_run(work), ["id", "channel", "service", "created_at"], as_json)


@grants_app.command("delete")
def grants_delete(
    city: CityOption,
    channel: Annotated[str, typer.Option(help="the channel's slug")],
    service_code: Annotated[str, typer.Option("--service", help="the service's code")],
) -> None:
    """Withdraw a grant (the channel is told by webhook)."""
    from cityhub.cities import service
    from cityhub.cli.helpers import cli_actor
    from cityhub.platform.errors import NotFound

    async def work(session: AsyncSession) -> None:
        found = await service.get_city_or_raise(session=session, slug=city)
        rows = await service.get_all_grants(session=session, city_id=found.id, limit=100_000)
        grant = next((g for g, c, s in rows if c.slug == channel and s.code == service_code), None)
        if grant is None:
            raise NotFound(f"{channel} has no grant of {service_code} in {city}")
        await service.delete_grant(session=session, actor=cli_actor(), city=found,
                                   grant_id=grant.id)  # fmt: skip

    _run(work)
    _say(f"{channel} no longer offers {service_code} in {city}")
