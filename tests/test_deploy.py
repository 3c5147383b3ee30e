"""The deployment files: the image installs the built wheel alone and runs unprivileged; the
compose file has every part wired to the same settings; the systemd units start the API and
the workers after the migrations. (`docker compose config` and `systemd-analyze verify` check
them further where those tools exist: docs/operations.md.)"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def test_the_image_is_built_in_two_stages_and_installs_only_the_wheel() -> None:
    lines = [ln.strip() for ln in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [ln for ln in lines if ln.startswith("FROM ")]
    assert len(stages) == 2 and all("-slim" in s for s in stages)
    final = lines[lines.index(stages[1]) :]
    copies = [ln for ln in final if ln.startswith("COPY")]
    assert copies == ["COPY --from=build /dist/*.whl /tmp/wheels/"]  # no source tree
    assert any(re.match(r"RUN pip install --no-cache-dir /tmp/wheels/\*\.whl", ln) for ln in final)
    user = [ln for ln in final if ln.startswith("USER ")]
    assert user and "root" not in user[-1] and user[-1] != "USER 0"
    assert 'ENTRYPOINT ["cityhub"]' in final


def test_compose_runs_postgres_two_hubs_a_worker_the_simulators_and_optional_nats() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "migrate", "hub1", "hub2", "worker", "simulators", "nats"}
    assert services["nats"]["profiles"] == ["nats"]
    assert services["worker"]["command"] == ["worker"]
    assert services["hub1"]["command"] == services["hub2"]["command"] == ["serve"]
    for name in ("hub1", "hub2", "worker"):
        env = services[name]["environment"]
        assert env["CITYHUB_EMBEDDED_WORKER"] == "false"
        assert env["CITYHUB_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["worker"]["environment"]["CITYHUB_WORKER_METRICS_PORT"] == "8200"


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment, method-assign]
    unit.read_string((ROOT / "deploy" / "systemd" / name).read_text())
    return unit


def test_the_units_start_after_the_migrations_as_an_unprivileged_user() -> None:
    migrate = _unit("cityhub-migrate.service")
    assert migrate["Service"]["Type"] == "oneshot"
    assert migrate["Service"]["ExecStart"].endswith("cityhub db upgrade")
    for name, command in (("cityhub.service", "serve"), ("cityhub-worker@.service", "worker")):
        unit = _unit(name)
        assert unit["Unit"]["Requires"] == "cityhub-migrate.service"
        assert unit["Service"]["ExecStart"].endswith(f"cityhub {command}")
        assert unit["Service"]["User"] == "cityhub"
        assert unit["Service"]["NoNewPrivileges"] == "yes"
        assert unit["Service"]["EnvironmentFile"] == "/etc/cityhub/cityhub.env"
    assert "820%i" in _unit("cityhub-worker@.service")["Service"]["Environment"]
