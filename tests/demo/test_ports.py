"""The simulators and the worker's metrics follow the hub's port, so two demos on one machine
with different CITYHUB_PORTs do not collide; CITYHUB_SIMULATOR_PORT still wins."""

from __future__ import annotations

import pytest

from cityhub.cli.demo import _demo_settings
from cityhub.platform.config import Settings, get_settings


def test_the_simulators_and_the_worker_metrics_sit_beside_the_hubs_port() -> None:
    settings = Settings(env="test", port=9000)
    assert (settings.simulators_port, settings.simulators_url) == (9100, "http://127.0.0.1:9100")
    assert settings.worker_metrics_listen_port == 9200
    chosen = Settings(env="test", port=9000, simulator_port=7001, worker_metrics_port=0)
    assert chosen.simulators_url == "http://127.0.0.1:7001"
    assert chosen.worker_metrics_listen_port == 0


def test_the_demo_points_its_connectors_at_the_simulators_of_its_own_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITYHUB_PORT", "9300")
    monkeypatch.delenv("CITYHUB_SIMULATOR_PORT", raising=False)
    monkeypatch.delenv("CITYHUB_SIMULATOR_URL", raising=False)
    get_settings.cache_clear()
    try:
        settings = _demo_settings()
    finally:
        get_settings.cache_clear()
    assert settings.simulators_url == "http://127.0.0.1:9400"
    assert "127.0.0.1:9400" in settings.connector_allowed_hosts
