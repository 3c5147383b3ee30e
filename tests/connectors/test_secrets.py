"""No city admin can make the hub send its own settings anywhere, a connector's secrets come
from the city's encrypted store (or environment variables set aside for the city), and no
answer or page shows a stored secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.cities.models import City
from cityhub.connectors import credentials
from cityhub.connectors.models import ConnectorDefinition, ConnectorSecret
from cityhub.connectors.registry import ConnectorHub
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Unavailable
from cityhub.simulators import RunningServer, serve_app_in_background
from tests.cities.factories import create_city
from tests.client import Api
from tests.connectors import providers
from tests.identity.factories import PASSWORD, create_staff
from tests.outbox_helpers import invoke

HUB_SETTINGS = sorted(f"CITYHUB_{name.upper()}" for name in Settings.model_fields)
SENTINEL = "hub-setting-that-must-never-leave-the-hub"


@pytest.fixture
def water() -> Iterator[tuple[RunningServer, providers.Seen]]:
    app, seen = providers.water_api()
    running = serve_app_in_background(app)
    yield running, seen
    running.stop()


async def _admin(api: Api, db: Database, city: City) -> Api:
    staff = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    return await api.as_staff(staff.username, PASSWORD)


def _with_key(base_url: str, key: dict[str, str], **changes: Any) -> dict[str, Any]:
    auth = {"type": "api_key", "header": "X-Api-Key", "key": key}
    return providers.water_definition(base_url, auth=auth, **changes)


def _sent(seen: providers.Seen) -> str:
    return json.dumps([{**r, "body": r["body"].decode()} for r in seen.requests])


async def test_every_hub_setting_is_refused_as_a_connector_secret(
    api: Api, db: Database, water: tuple[RunningServer, providers.Seen]
) -> None:
    assert {"CITYHUB_SECRET_KEY", "CITYHUB_DATA_KEY", "CITYHUB_DATABASE_URL"} <= set(HUB_SETTINGS)
    assert "CITYHUB_SMTP_PASSWORD" in HUB_SETTINGS
    city = await create_city(db)
    admin = await _admin(api, db, city)
    url = f"/v1/cities/{city.slug}/connectors"
    for variable in HUB_SETTINGS:
        as_key = _with_key(water[0].url, {"env": variable})
        problem = await admin.post(url, json=as_key, expect=422)
        assert (problem["code"], problem["field"]) == ("secret_not_allowed", "auth.key.env")
        assert variable in problem["detail"]
        as_header = {**as_key, "headers": {"X-Partner": {"env": variable}}}
        as_header["auth"] = {"type": "none"}
        problem = await admin.post(url, json=as_header, expect=422)
        assert problem["field"] == "headers.X-Partner.env", problem
    assert (await admin.get(url))["items"] == []  # nothing half-written


async def test_a_setting_named_in_a_stored_description_is_not_read_when_it_is_called(
    db: Database,
    hub: ConnectorHub,
    water: tuple[RunningServer, providers.Seen],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: a description that reached the database some other way."""
    city = await create_city(db)
    server, seen = water
    for variable in HUB_SETTINGS:
        monkeypatch.setenv(variable, SENTINEL)
        definition = _with_key(server.url, {"env": variable})
        async with db.unit_of_work() as session:
            with pytest.raises(Unavailable) as caught:
                await hub.described(session=session, city_id=city.id, definition=definition)
        assert caught.value.code == "connector_misconfigured"
        assert variable in (caught.value.detail or "")
        monkeypatch.delenv(variable)
    async with db.unit_of_work() as session:
        session.add(
            ConnectorDefinition(
                city_id=city.id,
                name="pudong-water",
                kind="biller",
                definition=_with_key(server.url, {"env": "CITYHUB_SECRET_KEY"}),
            )
        )
    monkeypatch.setenv("CITYHUB_SECRET_KEY", SENTINEL)
    code, output = await invoke(
        db.url, "connectors", "test", "--city", city.slug, "--name", "pudong-water"
    )
    assert code == 1 and "one of the hub's own settings" in output
    assert seen.requests == [] and SENTINEL not in output


async def test_a_city_reads_only_the_environment_variables_set_aside_for_it(
    api: Api,
    db: Database,
    water: tuple[RunningServer, providers.Seen],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, seen = water
    mine, other = await create_city(db), await create_city(db)
    own = f"CITYHUB_CONNECTOR_SECRET_{mine.slug.upper().replace('-', '_')}__PUDONG_WATER"
    theirs = f"CITYHUB_CONNECTOR_SECRET_{other.slug.upper().replace('-', '_')}__PUDONG_WATER"
    monkeypatch.setenv(own, providers.API_KEY)
    monkeypatch.setenv(theirs, "another city's key")
    admin = await _admin(api, db, mine)
    url = f"/v1/cities/{mine.slug}/connectors"
    for refused in (theirs, "PUDONG_WATER_KEY", "CITYHUB_CONNECTOR_SECRET_PUDONG_WATER", "HOME"):
        problem = await admin.post(url, json=_with_key(server.url, {"env": refused}), expect=422)
        assert problem["field"] == "auth.key.env", refused
    added = await admin.post(url, json=_with_key(server.url, {"env": own}))
    assert added["definition"]["auth"]["key"] == {"env": own}  # a name, never its value
    tried = await admin.post(f"{url}/pudong-water/test", json={}, expect=200)
    assert tried["ok"], tried
    assert seen.requests[-1]["headers"]["x-api-key"] == providers.API_KEY
    assert "another city's key" not in _sent(seen)


async def test_secrets_are_written_rotated_and_deleted_but_never_read_back(
    api: Api, db: Database, water: tuple[RunningServer, providers.Seen]
) -> None:
    server, seen = water
    city = await create_city(db)
    admin = await _admin(api, db, city)
    secrets_url = f"/v1/cities/{city.slug}/connector-secrets"
    written = await admin.call(
        "PUT", f"{secrets_url}/water-key", json={"value": "first-value"}, expect=201
    )
    assert set(written) == {"name", "version", "created_at", "rotated_at"}
    assert (written["name"], written["version"], written["rotated_at"]) == ("water-key", 1, None)
    await admin.post(
        f"/v1/cities/{city.slug}/connectors",
        json=_with_key(server.url, {"secret": "water-key"}),
    )
    tried = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
    )
    assert not tried["ok"] and seen.requests[-1]["headers"]["x-api-key"] == "first-value"

    rotated = await admin.call(
        "PUT", f"{secrets_url}/water-key", json={"value": providers.API_KEY}, expect=200
    )
    assert rotated["version"] == 2 and rotated["rotated_at"] is not None
    tried = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
    )
    assert tried["ok"], tried  # the rotated value is used at once
    listed = (await admin.get(secrets_url))["items"]
    assert [s["name"] for s in listed] == ["water-key"]
    everything = json.dumps([listed, written, rotated, await admin.get("/v1/audit?limit=100")])
    assert "first-value" not in everything and providers.API_KEY not in everything
    async with db.unit_of_work() as session:
        row = (await session.scalars(select(ConnectorSecret))).one()
        assert providers.API_KEY.encode() not in row.value_enc  # encrypted at rest
    actions = [e["action"] for e in (await admin.get("/v1/audit?limit=100"))["items"]]
    assert {"connector_secret.create", "connector_secret.rotate"} <= set(actions)

    await admin.delete(f"{secrets_url}/water-key")
    assert (await admin.get(secrets_url))["items"] == []
    problem = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=503
    )
    assert problem["code"] == "connector_misconfigured" and "water-key" in problem["detail"]
    problem = await admin.call(
        "PUT", f"{secrets_url}/Not%20A%20Name", json={"value": "x"}, expect=422
    )
    assert problem["field"] == "name"


async def test_a_city_cannot_use_or_see_another_citys_secrets(
    api: Api, db: Database, water: tuple[RunningServer, providers.Seen]
) -> None:
    mine, other = await create_city(db), await create_city(db)
    theirs = await _admin(api, db, other)
    await theirs.call(
        "PUT",
        f"/v1/cities/{other.slug}/connector-secrets/water-key",
        json={"value": "their-key"},
        expect=201,
    )
    admin = await _admin(api, db, mine)
    problem = await admin.post(
        f"/v1/cities/{mine.slug}/connectors",
        json=_with_key(water[0].url, {"secret": "water-key"}),
        expect=422,
    )
    assert (problem["code"], problem["field"]) == ("secret_not_found", "auth.key.secret")
    await admin.get(f"/v1/cities/{other.slug}/connector-secrets", expect=404)
    await admin.call(
        "PUT",
        f"/v1/cities/{other.slug}/connector-secrets/water-key",
        json={"value": "overwritten"},
        expect=404,
    )


async def test_no_answer_or_page_shows_a_stored_secret(
    api: Api, db: Database, water: tuple[RunningServer, providers.Seen]
) -> None:
    server, seen = water
    city = await create_city(db)
    admin = await _admin(api, db, city)
    definition = providers.water_definition(
        server.url,
        headers={"Authorization": "Bearer top-secret-bearer", "X-Client": "shanghai-hub"},
    )
    definition["operations"]["bills"]["headers"] = {
        "X-Signature": {"value": "op-level-secret"},
        "X-Account": "{account}",
    }
    secrets_in = [providers.API_KEY, "top-secret-bearer", "op-level-secret", "shanghai-hub"]
    added = await admin.post(f"/v1/cities/{city.slug}/connectors", json=definition)
    assert added["definition"]["headers"] == {
        "Authorization": {"secret": "pudong-water.headers.authorization"},
        "X-Client": "***",
    }
    assert added["definition"]["operations"]["bills"]["headers"] == {
        "X-Signature": {"secret": "pudong-water.operations.bills.headers.x-signature"},
        "X-Account": "***",
    }
    tried = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
    )
    assert tried["ok"], tried
    sent = seen.requests[-1]["headers"]  # the provider gets every secret, and only it
    assert sent["authorization"] == "Bearer top-secret-bearer"
    assert (sent["x-signature"], sent["x-account"]) == ("op-level-secret", "1001")
    answers = [
        added,
        tried,
        (await admin.get(f"/v1/cities/{city.slug}/connectors"))["items"],
        await admin.get(f"/v1/cities/{city.slug}/connectors/pudong-water"),
        (await admin.get(f"/v1/cities/{city.slug}/connector-secrets"))["items"],
        await admin.get("/v1/audit?limit=100"),
    ]
    page = await admin.get(f"/console/c/{city.slug}/connectors")
    assert 'data-testid="secret-pudong-water.auth.key"' in page
    assert 'data-testid="description-pudong-water"' in page
    listed = await invoke(db.url, "connectors", "list", "--city", city.slug)
    names = await invoke(db.url, "connectors", "secrets", "list", "--city", city.slug)
    assert "pudong-water.headers.authorization" in names[1]
    shown = json.dumps(answers) + page + listed[1] + names[1]
    for secret in secrets_in:
        assert secret not in shown, secret
    async with db.unit_of_work() as session:
        stored = (await session.scalars(select(ConnectorDefinition))).one()
    for secret in secrets_in[:3]:  # in clear nowhere in the database's description
        assert secret not in json.dumps(stored.definition), secret


async def test_the_cli_sets_a_secret_from_standard_input_and_never_prints_it(
    db: Database, tmp_path: Path
) -> None:
    city = await create_city(db)
    setting = ("connectors", "secrets", "set", "--city", city.slug, "--name", "water-key")
    code, output = await invoke(db.url, *setting, stdin="cli-secret-value\n")
    assert code == 0 and "water-key set" in output and "cli-secret-value" not in output
    file = tmp_path / "rotated.txt"
    file.write_text("rotated-value\n")
    code, output = await invoke(db.url, *setting, "--from-file", str(file))
    assert code == 0 and "rotated (version 2)" in output
    code, output = await invoke(db.url, "connectors", "secrets", "list", "--city", city.slug)
    assert output.split()[:2] == ["water-key", "2"] and "value" not in output
    async with db.unit_of_work() as session:
        row = (await session.scalars(select(ConnectorSecret))).one()
    assert b"rotated-value" not in row.value_enc and row.version == 2
    code, output = await invoke(
        db.url, "connectors", "secrets", "delete", "--city", city.slug, "--name", "water-key"
    )
    assert code == 0
    code, output = await invoke(db.url, "connectors", "secrets", "list", "--city", city.slug)
    assert output.strip() == ""


@pytest.mark.parametrize(
    ("city", "name", "allowed"),
    [
        ("shanghai", "CITYHUB_CONNECTOR_SECRET_SHANGHAI__PUDONG_WATER_KEY", True),
        ("xi-an", "CITYHUB_CONNECTOR_SECRET_XI_AN__KEY", True),
        ("xi", "CITYHUB_CONNECTOR_SECRET_XI_AN__KEY", False),  # another city's
        ("a", "CITYHUB_CONNECTOR_SECRET_A__B__KEY", False),  # city a--b's
        ("a", "CITYHUB_CONNECTOR_SECRET_A___KEY", False),  # city a-'s
        ("a-", "CITYHUB_CONNECTOR_SECRET_A___KEY", True),
        ("shanghai", "CITYHUB_CONNECTOR_SECRET_SHANGHAI__", False),
        ("shanghai", "CITYHUB_CONNECTOR_SECRET_SHANGHAI_KEY", False),
        ("shanghai", "CITYHUB_CONNECTOR_SECRET_SHANGHAI__key", False),
        ("", "CITYHUB_CONNECTOR_SECRET___KEY", False),
    ],
)
def test_each_environment_variable_belongs_to_one_city_only(
    city: str, name: str, allowed: bool
) -> None:
    why = credentials.env_refusal(name, city_slug=city, prefix="CITYHUB_CONNECTOR_SECRET_")
    assert (why is None) == allowed, why


def test_a_prefix_wide_enough_to_cover_the_settings_still_never_reaches_them() -> None:
    for variable in HUB_SETTINGS:
        assert credentials.env_refusal(variable, city_slug="secret", prefix="CITYHUB_")
