"""`cityhub demo`: loads once, starts fast the second time, refuses production, prints logins."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from cityhub.cli import app as cli
from cityhub.cli.demo import demo_app
from cityhub.demo import world
from cityhub.platform.config import get_settings
from cityhub.platform.db import Database


@pytest.fixture
def environment(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CITYHUB_ENV", "demo")
    monkeypatch.setenv("CITYHUB_DATABASE_URL", db.url)
    get_settings.cache_clear()  # the command reads the environment set above
    yield
    get_settings.cache_clear()


def test_demo_loads_once_then_starts_without_reloading(environment: None) -> None:
    runner = CliRunner()
    first = runner.invoke(demo_app, ["--no-serve", "--residents", "40"])
    assert first.exit_code == 0, first.output
    assert "loaded the demo world" in first.stdout and "40 residents" in first.stdout
    for url in ("/docs", "/console", "/healthz"):
        assert f"http://127.0.0.1:8000{url}" in first.stdout
    assert "demo-shanghai-admin" in first.stdout and "demo-operator" in first.stdout
    assert all(c.secret in first.stdout for c in world.CHANNELS)
    assert "paylink-u00000" in first.stdout  # a resident to try a query with
    verified = runner.invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "audit log ok" in verified.stdout
    second = runner.invoke(demo_app, ["--no-serve"])
    assert second.exit_code == 0, second.output
    assert "already" in second.stdout and "loaded the demo world" not in second.stdout


def test_demo_names_the_port_to_change_when_the_simulators_is_taken(environment: None) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            demo_app, ["--residents", "5"], env={"CITYHUB_SIMULATOR_PORT": str(port)}
        )
    assert result.exit_code == 1
    assert f"127.0.0.1:{port}" in result.output and "CITYHUB_SIMULATOR_PORT" in result.output


def test_demo_refuses_production(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYHUB_ENV", "production")
    get_settings.cache_clear()
    result = CliRunner().invoke(demo_app, ["--no-serve"])
    assert result.exit_code == 2
    assert "production" in result.output and "loaded" not in result.output


def test_credentials_json_shape() -> None:
    result = CliRunner().invoke(demo_app, ["credentials", "--json"])
    assert result.exit_code == 0, result.output
    creds = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert set(creds) == {"channels", "staff", "residents"}
    assert len(creds["channels"]) == 4
    for channel in creds["channels"]:
        assert set(channel) == {"name", "client_id", "client_secret", "cities"}
    every = {c["client_id"]: set(c["cities"]) for c in creds["channels"]}
    assert all({"shanghai", "shenzhen"} <= cities for cities in every.values())
    assert every["ch_portal"] == {c.slug for c in world.CITIES}
    assert any(cities != every["ch_portal"] for cities in every.values())
    for person in creds["staff"]:
        assert set(person) == {"city", "username", "password", "role"}
    assert {p["role"] for p in creds["staff"]} == {
        "operator",
        "city_admin",
        "provider_staff",
        "auditor",
    }
    assert [p["city"] for p in creds["staff"] if p["role"] == "operator"] == [None]
    assert {p["city"] for p in creds["staff"]} == {c.slug for c in world.CITIES} | {None}
    channels = {c.slug for c in world.CHANNELS}
    for resident in creds["residents"]:
        assert set(resident) == {"channel", "user_id", "id_number", "verified", "plates"}
        assert resident["channel"] in channels and "*" in resident["id_number"]
    assert any(r["verified"] and r["plates"] for r in creds["residents"])


def test_credentials_table_is_readable() -> None:
    result = CliRunner().invoke(demo_app, ["credentials"])
    assert result.exit_code == 0, result.output
    assert "ch_weibeam" in result.stdout and "xiamen-auditor" in result.stdout
