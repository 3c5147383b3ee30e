"""Outside demo mode the hub refuses unsafe settings and says which variable to set."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from cityhub.app import create_app
from cityhub.config import InsecureConfiguration, Settings

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
