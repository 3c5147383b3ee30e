"""Outside demo mode the hub refuses unsafe settings and says which variable to set."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from cityhub.app import create_app
from cityhub.identity.pii import Vault
from cityhub.platform.config import (
    DEFAULT_DATA_KEY,
    DEFAULT_HASH_KEY,
    DEFAULT_SECRET_KEY,
    DEMO_KEYS_FILE,
    InsecureConfiguration,
    Settings,
    get_settings,
)

GOOD = {
    "env": "production",
    "database_url": "postgresql+asyncpg://cityhub@db.internal/cityhub",
    "secret_key": "s" * 40,
    "data_key": base64.b64encode(b"k" * 32).decode(),
    "hash_key": "h" * 24,
}


def test_production_refuses_every_default() -> None:
    with pytest.raises(InsecureConfiguration) as refused:
        Settings(env="production").check_safe()
    message = str(refused.value)
    for variable in (
        "CITYHUB_SECRET_KEY",
        "CITYHUB_DATA_KEY",
        "CITYHUB_HASH_KEY",
        "CITYHUB_DATABASE_URL",
    ):
        assert variable in message
    with pytest.raises(InsecureConfiguration, match="CITYHUB_DATABASE_URL"):
        Settings(**{**GOOD, "database_url": "sqlite+aiosqlite:///x.db"}).check_safe()
    with pytest.raises(InsecureConfiguration, match="CITYHUB_SECRET_KEY"):
        create_app(Settings(**{**GOOD, "secret_key": "short"}))


def test_production_with_real_values_and_demo_with_defaults_start() -> None:
    Settings(**GOOD).check_safe()
    Settings(env="demo").check_safe()
    with pytest.raises(ValueError, match="CITYHUB_ENV"):
        Settings(env="staging")


def test_serve_refuses_with_the_message() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_")}
    env["CITYHUB_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-m", "cityhub", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "CITYHUB_SECRET_KEY" in result.stderr + result.stdout


VARIABLES = ("CITYHUB_SECRET_KEY", "CITYHUB_DATA_KEY", "CITYHUB_HASH_KEY", "CITYHUB_DATABASE_URL")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any CITYHUB_ variable of the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("CITYHUB_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_from_the_environment_names_each_variable(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("CITYHUB_ENV", "production")
    with pytest.raises(InsecureConfiguration) as refused:
        Settings().check_safe()
    lines = str(refused.value).splitlines()[1:]
    assert [line.strip().split(":")[0] for line in lines] == list(VARIABLES)
    # each fixed variable drops out of the message; the rest stay named
    values = {
        "CITYHUB_SECRET_KEY": GOOD["secret_key"],
        "CITYHUB_DATA_KEY": GOOD["data_key"],
        "CITYHUB_HASH_KEY": GOOD["hash_key"],
        "CITYHUB_DATABASE_URL": GOOD["database_url"],
    }
    for done, variable in enumerate(VARIABLES, start=1):
        environment.setenv(variable, values[variable])
        if done == len(VARIABLES):
            Settings().check_safe()
            create_app(Settings())  # starts: nothing left to refuse
            break
        with pytest.raises(InsecureConfiguration) as refused:
            Settings().check_safe()
        for still in VARIABLES[done:]:
            assert still in str(refused.value)
        for fixed in VARIABLES[:done]:
            assert fixed not in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CITYHUB_DATABASE_URL", "sqlite+aiosqlite:////srv/cityhub.sqlite3"),
        ("CITYHUB_SECRET_KEY", "insecure-demo-secret-key-change-me-0000000000"),
        ("CITYHUB_DATA_KEY", "Y2l0eWh1Yi1kZW1vLWRhdGEta2V5LW5vdC1zZWNyZXQ="),
        ("CITYHUB_DATA_KEY", "not base64 of 32 bytes"),
        ("CITYHUB_DATA_KEY", base64.b64encode(b"k" * 16).decode()),
        ("CITYHUB_HASH_KEY", "short"),
    ],
)
def test_one_unsafe_value_is_enough_to_refuse(
    environment: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    for name, good in GOOD.items():
        environment.setenv(f"CITYHUB_{name.upper()}", good)
    environment.setenv(variable, value)
    with pytest.raises(InsecureConfiguration) as refused:
        create_app(Settings())
    assert [line.strip().split(":")[0] for line in str(refused.value).splitlines()[1:]] == [
        variable
    ]


async def test_demo_starts_on_the_defaults(environment: pytest.MonkeyPatch, tmp_path: Path) -> None:
    environment.setenv("CITYHUB_DATA", str(tmp_path))
    settings = Settings()
    assert (settings.env, settings.secret_key) == ("demo", DEFAULT_SECRET_KEY)
    assert settings.url.startswith("sqlite") and str(tmp_path) in settings.url
    settings.check_safe()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"


@pytest.fixture
def demo_folder(environment: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A fresh data folder for a demo started from the environment (`get_settings`)."""
    environment.setenv("CITYHUB_ENV", "demo")
    environment.setenv("CITYHUB_DATA", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def started() -> Settings:
    """The settings of a new process start."""
    get_settings.cache_clear()
    return get_settings()


def test_a_demo_makes_keys_of_its_own_and_keeps_them(
    demo_folder: Path, environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = started()
    keys = demo_folder / DEMO_KEYS_FILE

    assert first.secret_key != DEFAULT_SECRET_KEY and len(first.secret_key) >= 32
    assert first.data_key != DEFAULT_DATA_KEY
    assert first.hash_key != DEFAULT_HASH_KEY and len(first.hash_key) >= 16
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert json.loads(keys.read_text())["secret_key"] == first.secret_key
    Vault.from_settings(first).decrypt(Vault.from_settings(first).encrypt("x"))  # a real key
    first.check_safe()
    again = started()
    assert (again.secret_key, again.data_key, again.hash_key) == (
        first.secret_key,
        first.data_key,
        first.hash_key,
    )
    environment.setenv("CITYHUB_DATA", str(tmp_path / "another"))
    assert started().secret_key != first.secret_key  # no two demos share a key


def test_the_environment_wins_over_the_demo_keys(
    demo_folder: Path, environment: pytest.MonkeyPatch
) -> None:
    environment.setenv("CITYHUB_SECRET_KEY", "s" * 40)
    settings = started()
    assert settings.secret_key == "s" * 40
    assert settings.hash_key == json.loads((demo_folder / DEMO_KEYS_FILE).read_text())["hash_key"]
    for name in ("data_key", "hash_key"):
        environment.setenv(f"CITYHUB_{name.upper()}", GOOD[name])
    for_tests = started()
    assert (for_tests.data_key, for_tests.hash_key) == (GOOD["data_key"], GOOD["hash_key"])


def test_a_demo_folder_from_before_the_key_file_keeps_its_keys(demo_folder: Path) -> None:
    """Its personal data is encrypted under the well-known keys: new ones would lose it."""
    demo_folder.mkdir()
    (demo_folder / "cityhub.sqlite3").write_bytes(b"")
    settings = started()
    assert (settings.secret_key, settings.data_key) == (DEFAULT_SECRET_KEY, DEFAULT_DATA_KEY)
    assert not (demo_folder / DEMO_KEYS_FILE).exists()


def test_only_a_demo_makes_keys(demo_folder: Path, environment: pytest.MonkeyPatch) -> None:
    environment.setenv("CITYHUB_ENV", "test")
    assert started().secret_key == DEFAULT_SECRET_KEY
    environment.setenv("CITYHUB_ENV", "production")
    with pytest.raises(InsecureConfiguration, match="CITYHUB_SECRET_KEY"):
        started().check_safe()
    assert not (demo_folder / DEMO_KEYS_FILE).exists()


@pytest.mark.parametrize("prefix", ["", "CITYHUB_", "lower_case_", "NO_TRAILING", "A_"])
def test_a_connector_env_prefix_that_would_open_the_environment_is_refused(
    environment: pytest.MonkeyPatch, prefix: str
) -> None:
    environment.setenv("CITYHUB_CONNECTOR_ENV_PREFIX", prefix)
    with pytest.raises(ValidationError, match="CITYHUB_CONNECTOR_ENV_PREFIX"):
        Settings()


def test_the_connector_env_prefix_defaults_to_its_own_family(
    environment: pytest.MonkeyPatch,
) -> None:
    assert Settings().connector_env_prefix == "CITYHUB_CONNECTOR_SECRET_"
    environment.setenv("CITYHUB_CONNECTOR_ENV_PREFIX", "PROVIDERS_")
    assert Settings().connector_env_prefix == "PROVIDERS_"
