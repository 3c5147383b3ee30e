"""`cityhub connectors`: connect a provider from a declarative file, try it, and keep the
city's connector secrets (`cityhub connectors secrets set|list|delete`)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from cityhub.platform.config import Settings
from cityhub.platform.db import Database

connectors_app = typer.Typer(
    help="Providers connected by declarative files (see docs/connectors.md).",
    no_args_is_help=True,
)
secrets_app = typer.Typer(
    help="A city's connector secrets: write-only, encrypted, used as {secret: name}.",
    no_args_is_help=True,
)
connectors_app.add_typer(secrets_app, name="secrets")
console = Console(stderr=True)
out = Console()


def load_file(path: Path) -> Any:
    """A description from a YAML or JSON file, or exit 2 saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        console.print(f"[red]cannot read {path}: {exc}[/red]")
        raise typer.Exit(2) from None


def _param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise typer.BadParameter(f"{text!r}: write name=value")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


@connectors_app.command("add")
def add(
    city: Annotated[str, typer.Option(help="the city's slug")],
    file: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="YAML or JSON")],
    replace: Annotated[bool, typer.Option(help="replace a connector of the same name")] = False,
) -> None:
    """Validate a connector description against the schema and store it for the city; inline
    secrets ({value: ...}, credential headers) move into the city's secret store."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import service
    from cityhub.identity import audit
    from cityhub.identity.pii import Vault
    from cityhub.platform.outbound import OutboundPolicy

    definition = load_file(file)

    async def work(db: Database, settings: Settings) -> tuple[str, str, bool]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            row, created = await service.save_definition(
                session=session,
                vault=Vault.from_settings(settings),
                actor=audit.Actor.system(),
                city=found,
                definition=definition,
                policy=OutboundPolicy.from_settings(settings),
                env_prefix=settings.connector_env_prefix,
                replace=replace,
            )
            return row.name, row.kind, created

    name, kind, created = run_domain(lambda: run_with_db(work))
    verb = "added to" if created else "replaced in"
    out.print(f"connector {name} ({kind}) {verb} {city}")


@connectors_app.command("test")
def test(
    city: Annotated[str, typer.Option(help="the city's slug")],
    name: Annotated[str, typer.Option(help="the connector's name")],
    operation: Annotated[str | None, typer.Option(help="default: the file's test")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value, repeatable")
    ] = None,
) -> None:
    """Call one read operation of a stored connector and report; exit 1 if it failed."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import service
    from cityhub.connectors.registry import ConnectorHub

    params = dict(_param(p) for p in param) if param else None

    async def work(db: Database, settings: Settings) -> dict[str, Any]:
        hub = ConnectorHub(settings)
        try:
            async with db.unit_of_work() as session:
                found = await cities.get_city_or_raise(session=session, slug=city)
                row = await service.get_definition_or_raise(
                    session=session, city_id=found.id, name=name
                )
                trial = await service.prepare_trial(
                    session=session,
                    hub=hub,
                    city_id=found.id,
                    definition=row.definition,
                    operation=operation,
                    params=params,
                )
            return await service.try_operation(trial)  # no transaction open meanwhile
        finally:
            await hub.aclose()

    report = run_domain(lambda: run_with_db(work))
    out.print_json(json.dumps(report, ensure_ascii=False, default=str))
    if not report["ok"]:
        raise typer.Exit(1)


@connectors_app.command("list")
def list_connectors(city: Annotated[str, typer.Option(help="the city's slug")]) -> None:
    """The city's stored connectors."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import service

    async def work(db: Database, _settings: Settings) -> list[tuple[str, str, str]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            rows = await service.get_all_definitions(session=session, city_id=found.id)
            return [(r.name, r.kind, r.definition["base_url"]) for r in rows]

    for row in run_domain(lambda: run_with_db(work)):
        out.print("\t".join(row))


def _secret_value(from_file: Path | None) -> str:
    """The value from a file, from standard input, or typed at a hidden prompt: never from
    the command line, where shell history and process lists would keep it."""
    if from_file is not None:
        try:
            return from_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            console.print(f"[red]cannot read {from_file}: {exc}[/red]")
            raise typer.Exit(2) from None
    if not sys.stdin.isatty():
        return sys.stdin.read().rstrip("\r\n")
    value: str = typer.prompt("secret value", hide_input=True, confirmation_prompt=True)
    return value


@secrets_app.command("set")
def secret_set(
    city: Annotated[str, typer.Option(help="the city's slug")],
    name: Annotated[str, typer.Option(help="the secret's name, e.g. pudong-water.auth.key")],
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file", dir_okay=False, help="read the value from this file (default: stdin)"
        ),
    ] = None,
) -> None:
    """Set a connector secret, or rotate it if the name exists. The value is read from
    --from-file, standard input or a hidden prompt, stored encrypted, and never shown again."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import secrets
    from cityhub.identity import audit
    from cityhub.identity.pii import Vault

    value = _secret_value(from_file)

    async def work(db: Database, settings: Settings) -> tuple[bool, int]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            row, created = await secrets.put(
                session=session,
                vault=Vault.from_settings(settings),
                actor=audit.Actor.system(),
                city=found,
                name=name,
                value=value,
            )
            return created, row.version

    created, version = run_domain(lambda: run_with_db(work))
    verb = "set" if created else f"rotated (version {version})"
    out.print(f"connector secret {name} {verb} in {city}")


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@secrets_app.command("list")
def secret_list(city: Annotated[str, typer.Option(help="the city's slug")]) -> None:
    """The city's connector secrets: name, version, created and rotated times (no values)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import secrets

    async def work(db: Database, _settings: Settings) -> list[tuple[str, ...]]:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            rows = await secrets.get_all(session=session, city_id=found.id)
            return [
                (r.name, str(r.version), _when(r.created_at), _when(r.rotated_at)) for r in rows
            ]

    for row in run_domain(lambda: run_with_db(work)):
        out.print("\t".join(row))


@secrets_app.command("delete")
def secret_delete(
    city: Annotated[str, typer.Option(help="the city's slug")],
    name: Annotated[str, typer.Option(help="the secret's name")],
) -> None:
    """Delete a connector secret (connectors that use it fail until it is set again)."""
    from cityhub.cities import service as cities
    from cityhub.cli.helpers import run_domain, run_with_db
    from cityhub.connectors import secrets
    from cityhub.identity import audit

    async def work(db: Database, _settings: Settings) -> None:
        async with db.unit_of_work() as session:
            found = await cities.get_city_or_raise(session=session, slug=city)
            await secrets.delete(session=session, actor=audit.Actor.system(), city=found, name=name)

    run_domain(lambda: run_with_db(work))
    out.print(f"connector secret {name} deleted from {city}")


def simulate(
    port: Annotated[
        int | None,
        typer.Option(
            help="the port to serve on [default: CITYHUB_SIMULATOR_PORT, or CITYHUB_PORT + 100]"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="the same seed gives the same world")] = 42,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
) -> None:
    """Serve the provider simulators (water, power, gas, traffic police, social insurance,
    housing fund, environment, outages, a FHIR hospital, vehicle administration)."""
    import uvicorn

    from cityhub.platform.config import get_settings
    from cityhub.simulators import create_app

    port = port or get_settings().simulators_port
    console.print(f"simulators on http://{host}:{port} (seed {seed}); control API: /_control")
    uvicorn.run(create_app(seed), host=host, port=port, log_level="warning", server_header=False)
