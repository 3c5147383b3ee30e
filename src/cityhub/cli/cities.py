"""`cityhub cities|categories ...`: the catalogue, managed from the shell by the operator
(audited as the CLI; services and grants in `services_cli`). Creating what exists changes
nothing and says so."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

cities_app = typer.Typer(help="Cities on the hub.", no_args_is_help=True)
categories_app = typer.Typer(
    help="The catalogue's categories (every city's).", no_args_is_help=True
)
CityOption = Annotated[str, typer.Option("--city", help="the city's slug")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]
NameEn = Annotated[str | None, typer.Option("--name-en", help="the English name")]
NameHans = Annotated[str | None, typer.Option("--name-zh-hans", help="default: the English")]
NameHant = Annotated[str | None, typer.Option("--name-zh-hant", help="default: zh-Hans")]
Work = Callable[[AsyncSession], Coroutine[Any, Any, Any]]


def _names(en: str | None, hans: str | None, hant: str | None) -> Any:
    from cityhub.cities.schemas import Names

    if en is None:
        return None
    hans = hans or en
    return Names.model_validate({"zh-Hans": hans, "zh-Hant": hant or hans, "en": en})


def _run(work: Work) -> Any:
    """Run `work` in one unit of work as the operator, turning a refusal into exit 1."""
    from pydantic import ValidationError

    from cityhub.cli.helpers import console, run_domain, run_with_db

    async def main(db: Database, _s: Settings) -> Any:
        async with db.unit_of_work() as session:
            return await work(session)

    try:
        return run_domain(lambda: run_with_db(main))
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        console.print(f"[red]{where}: {problem['msg']}[/red]")
        raise typer.Exit(1) from None


def _say(text: str) -> None:
    from cityhub.cli.helpers import console

    console.print(text)


def _table(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    from cityhub.cli.helpers import out

    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    out.print(table)


# -- cities --------------------------------------------------------------------------------


@cities_app.command("create")
def cities_create(
    slug: str,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone")] = "Asia/Shanghai",
    currency: Annotated[str, typer.Option()] = "CNY",
    activate: Annotated[bool, typer.Option(help="active at once (else onboarding)")] = False,
) -> None:
    """Add a city (onboarding until activated)."""
    from cityhub.cities import service
    from cityhub.cities.models import CityStatus
    from cityhub.cities.schemas import CityCreate, CityUpdate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> bool:
        if await service.get_city_by_slug(session=session, slug=slug):
            return False
        city_in = CityCreate(slug=slug, names=_names(name_en or slug.title(), name_zh_hans,
                             name_zh_hant), timezone=timezone, currency=currency)  # fmt: skip
        city = await service.create_city(session=session, actor=cli_actor(), city_in=city_in)
        if activate:
            await service.update_city(session=session, actor=cli_actor(), city=city,
                                      city_in=CityUpdate(status=CityStatus.ACTIVE),
                                      may_set_status=True)  # fmt: skip
        return True

    made = _run(work)
    _say(f"city {slug} {'created' if made else 'exists: nothing changed'}")


@cities_app.command("list")
def cities_list(as_json: JsonOption = False) -> None:
    """Every city with its status and time zone."""
    from cityhub.cities import service
    from cityhub.cities.schemas import CityRead

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await service.get_all_cities(session=session, after=None, limit=100_000)
        return [CityRead.of(c).model_dump(mode="json", by_alias=True) for c in found]

    rows = [{**r, "name": r["names"]["en"]} for r in _run(work)]
    _table(rows, ["slug", "name", "timezone", "currency", "status"], as_json)


def _update_city(slug: str, **changes: Any) -> str:
    from cityhub.cities import service
    from cityhub.cities.schemas import CityUpdate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> str:
        city = await service.get_city_or_raise(session=session, slug=slug)
        city_in = CityUpdate(**{k: v for k, v in changes.items() if v is not None})
        await service.update_city(session=session, actor=cli_actor(), city=city,
                                  city_in=city_in, may_set_status=True)  # fmt: skip
        return city.status.value

    status: str = _run(work)
    return status


@cities_app.command("update")
def cities_update(
    slug: str,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
    timezone: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Change a city's names or time zone."""
    _update_city(slug, names=_names(name_en, name_zh_hans, name_zh_hant), timezone=timezone)
    _say(f"city {slug} updated")


@cities_app.command("activate")
def cities_activate(slug: str) -> None:
    """Make a city active (channels can be granted its services)."""
    from cityhub.cities.models import CityStatus

    _say(f"city {slug} {_update_city(slug, status=CityStatus.ACTIVE)}")


@cities_app.command("disable")
def cities_disable(slug: str) -> None:
    """Suspend a city: no new grants, and its recurring jobs stop."""
    from cityhub.cities.models import CityStatus

    _say(f"city {slug} {_update_city(slug, status=CityStatus.SUSPENDED)}")


# -- categories ----------------------------------------------------------------------------


@categories_app.command("list")
def categories_list(as_json: JsonOption = False) -> None:
    """The categories, the disabled ones too."""
    from cityhub.cities import categories
    from cityhub.cities.schemas import CategoryRead

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        found = await categories.get_all(session=session, include_disabled=True)
        return [CategoryRead.of(c).model_dump(mode="json", by_alias=True) for c in found]

    rows = [{**r, "name": r["names"]["en"]} for r in _run(work)]
    _table(rows, ["code", "name", "position", "active"], as_json)


@categories_app.command("create")
def categories_create(
    code: str,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
    position: Annotated[int, typer.Option(help="display order")] = 100,
) -> None:
    """Add a category."""
    from cityhub.cities import categories
    from cityhub.cities.models import ServiceCategory
    from cityhub.cities.schemas import CategoryCreate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> bool:
        if await session.get(ServiceCategory, code):
            return False
        names = _names(name_en or code.replace("_", " ").title(), name_zh_hans, name_zh_hant)
        category_in = CategoryCreate(code=code, names=names, position=position)
        await categories.create(session=session, actor=cli_actor(), category_in=category_in)
        return True

    _say(f"category {code} {'created' if _run(work) else 'exists: nothing changed'}")


def _update_category(code: str, **changes: Any) -> None:
    from cityhub.cities import categories
    from cityhub.cities.schemas import CategoryUpdate
    from cityhub.cli.helpers import cli_actor

    async def work(session: AsyncSession) -> None:
        found = await categories.get_or_raise(session=session, code=code)
        category_in = CategoryUpdate(**{k: v for k, v in changes.items() if v is not None})
        await categories.update(session=session, actor=cli_actor(), category=found,
                                category_in=category_in)  # fmt: skip

    _run(work)


@categories_app.command("update")
def categories_update(
    code: str,
    name_en: NameEn = None,
    name_zh_hans: NameHans = None,
    name_zh_hant: NameHant = None,
    position: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Rename or reorder a category."""
    _update_category(code, names=_names(name_en, name_zh_hans, name_zh_hant), position=position)
    _say(f"category {code} updated")


@categories_app.command("disable")
def categories_disable(code: str) -> None:
    """No new services in this category (those in it stay)."""
    _update_category(code, active=False)
    _say(f"category {code} disabled")


@categories_app.command("enable")
def categories_enable(code: str) -> None:
    """Take services in this category again."""
    _update_category(code, active=True)
    _say(f"category {code} enabled")
