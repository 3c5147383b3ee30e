"""`cityhub connectors add/test` from a YAML file, and a provider that demands mutual TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from cityhub.cities.models import City
from cityhub.cli import app as cli
from cityhub.connectors.registry import ConnectorHub
from cityhub.platform.config import get_settings
from cityhub.platform.db import Database
from cityhub.simulators import RunningServer, serve_app_in_background
from tests.cities.factories import create_city
from tests.connectors import providers
from tests.connectors.tls import make_pki


@pytest.fixture
def water() -> Iterator[RunningServer]:
    app, _seen = providers.water_api()
    running = serve_app_in_background(app)
    yield running
    running.stop()


@pytest.fixture
async def city(db: Database) -> City:
    return await create_city(db)


@pytest.fixture
def environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CITYHUB_ENV", "test")
    monkeypatch.setenv("CITYHUB_DATABASE_URL", db.url)
    monkeypatch.setenv("CITYHUB_CONNECTOR_ALLOW_HOSTS", "127.0.0.1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_city_connects_a_biller_from_a_yaml_file_and_tries_it(
    environment: None, city: City, water: RunningServer, tmp_path: Path
) -> None:
    runner = CliRunner()
    file = tmp_path / "water.yaml"
    file.write_text(yaml.safe_dump(providers.water_definition(water.url), allow_unicode=True))
    added = runner.invoke(cli, ["connectors", "add", "--city", city.slug, "--file", str(file)])
    assert added.exit_code == 0, added.output
    assert f"connector pudong-water (biller) added to {city.slug}" in added.stdout
    twice = runner.invoke(cli, ["connectors", "add", "--city", city.slug, "--file", str(file)])
    assert twice.exit_code == 1 and "exists" in twice.output
    tried = runner.invoke(
        cli, ["connectors", "test", "--city", city.slug, "--name", "pudong-water"]
    )
    assert tried.exit_code == 0, tried.output
    assert '"ok": true' in tried.stdout and '"amount_fen": 12345' in tried.stdout
    unknown = runner.invoke(
        cli,
        ["connectors", "test", "--city", city.slug, "--name", "pudong-water", "-p", "account=9"],
    )
    assert unknown.exit_code == 1 and '"code": "provider_not_found"' in unknown.stdout
    inside = tmp_path / "inside.yaml"
    definition = {**providers.water_definition(water.url), "base_url": "http://10.0.0.7/api"}
    inside.write_text(yaml.safe_dump(definition))
    refused = runner.invoke(
        cli, ["connectors", "add", "--city", city.slug, "--file", str(inside), "--replace"]
    )
    assert refused.exit_code == 1 and "CITYHUB_CONNECTOR_ALLOW_HOSTS" in refused.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed")
    unreadable = runner.invoke(
        cli, ["connectors", "add", "--city", city.slug, "--file", str(broken)]
    )
    assert unreadable.exit_code == 2 and "cannot read" in unreadable.output


async def test_a_provider_that_demands_a_client_certificate_gets_ours(
    hub: ConnectorHub, db: Database, city: City, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    app, seen = providers.water_api(auth="none")
    server = serve_app_in_background(
        app,
        ssl_certfile=str(pki.server_cert),
        ssl_keyfile=str(pki.server_key),
        ssl_ca_certs=str(pki.ca),
        ssl_cert_reqs=ssl.CERT_REQUIRED,
    )
    try:
        auth = {
            "type": "mtls",
            "cert": str(pki.client_cert),
            "key": str(pki.client_key),
            "ca": str(pki.ca),
        }
        definition = providers.water_definition(server.url, auth=auth)
        async with db.unit_of_work() as session:
            connector, _guard = await hub.described(
                session=session, city_id=city.id, definition=definition
            )
        assert [b.amount_fen for b in await connector.bills(account="1001")] == [12345, 9800]
        no_certificate = ssl.create_default_context(cafile=str(pki.ca))
        async with httpx.AsyncClient(verify=no_certificate, trust_env=False) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(f"{server.url}/api/v2/customers/1001/invoices")
        assert len(seen.requests) == 1  # only the call with our certificate got through
    finally:
        server.stop()
