"""A provider connected from a declarative file, with no code: validation, auth, mapping."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.cities.models import City
from cityhub.connectors.registry import ConnectorHub
from cityhub.connectors.types import PaymentOrder
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import BadGateway, NotFound
from cityhub.simulators import RunningServer, serve_app_in_background
from tests.cities.factories import create_city
from tests.client import Api
from tests.connectors import providers
from tests.connectors.factories import connected_service
from tests.identity.factories import PASSWORD, create_staff


@pytest.fixture
def water() -> Iterator[tuple[RunningServer, providers.Seen]]:
    app, seen = providers.water_api()
    running = serve_app_in_background(app)
    yield running, seen
    running.stop()


async def _admin(api: Api, db: Database, city: City) -> Api:
    staff = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    return await api.as_staff(staff.username, PASSWORD)


async def test_a_biller_added_from_a_file_serves_bill_lookups_and_payments(
    api: Api, db: Database, hub: ConnectorHub, water: tuple[RunningServer, providers.Seen]
) -> None:
    server, seen = water
    city = await create_city(db)
    admin = await _admin(api, db, city)
    added = await admin.post(
        f"/v1/cities/{city.slug}/connectors", json=providers.water_definition(server.url)
    )
    assert added["kind"] == "biller" and added["operations"] == ["bills", "pay"]
    # The inline key moved into the city's secret store: the description names it only.
    assert added["definition"]["auth"]["key"] == {"secret": "pudong-water.auth.key"}
    assert providers.API_KEY not in str(added)
    service = await connected_service(
        db, city=city, connector="http", config={"definition": "pudong-water"}
    )
    async with db.unit_of_work() as session:
        biller = await hub.biller(session=session, service=service)
    bills = await biller.bills(account="1001")
    assert [(b.bill_id, b.amount_fen, b.status) for b in bills] == [
        ("INV-2025-10", 12345, "unpaid"),
        ("INV-2025-09", 9800, "paid"),
    ]
    assert seen.requests[-1]["headers"]["x-api-key"] == providers.API_KEY
    receipt = await biller.pay(
        order=PaymentOrder(
            payment_id="p-1", account="1001", bill_id="INV-2025-10", amount_fen=12345
        )
    )
    assert receipt.provider_ref == "T-p-1"
    assert b'"amount":"123.45"' in seen.requests[-1]["body"]
    with pytest.raises(NotFound):
        await biller.bills(account="9999")
    tried = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
    )
    assert tried["ok"] and tried["result"][0]["amount_fen"] == 12345
    refused = await admin.post(
        f"/v1/cities/{city.slug}/connectors/pudong-water/test",
        json={"operation": "pay"},
        expect=422,
    )
    assert refused["code"] == "operation_not_idempotent"


async def test_hmac_signed_requests_pass_a_provider_that_checks_signatures(
    api: Api, db: Database, hub: ConnectorHub
) -> None:
    app, seen = providers.water_api(auth="hmac")
    server = serve_app_in_background(app)
    city = await create_city(db)
    admin = await _admin(api, db, city)
    try:
        auth = {"type": "hmac", "key_id": providers.HMAC_KEY_ID, "secret": {"secret": "signing"}}
        definition = providers.water_definition(server.url, auth=auth)
        secrets_url = f"/v1/cities/{city.slug}/connector-secrets/signing"
        await admin.call("PUT", secrets_url, json={"value": providers.HMAC_SECRET}, expect=201)
        await admin.post(f"/v1/cities/{city.slug}/connectors", json=definition)
        tried = await admin.post(
            f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
        )
        assert tried["ok"], tried
        assert seen.requests[-1]["headers"]["x-cityhub-signature"]
        # Rotated to a value the provider does not know: the next call uses it at once.
        await admin.call("PUT", secrets_url, json={"value": "the wrong secret"}, expect=200)
        wrong = await admin.post(
            f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
        )
        assert not wrong["ok"] and "401" in wrong["error"]["detail"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("account", "code"),
    [
        ("huge", "provider_answer_too_large"),
        ("garbled", "provider_bad_answer"),
        ("deep", "provider_bad_answer"),
        ("odd", "provider_bad_answer"),
        ("strange", "provider_bad_answer"),
    ],
)
async def test_an_oversized_or_malformed_answer_is_a_bad_gateway(
    db: Database,
    hub: ConnectorHub,
    settings: Settings,
    water: tuple[RunningServer, providers.Seen],
    account: str,
    code: str,
) -> None:
    definition = providers.water_definition(
        water[0].url, resilience={"max_response_bytes": 100_000}
    )
    city = await create_city(db)
    async with db.unit_of_work() as session:
        connector, guard = await hub.described(
            session=session, city_id=city.id, definition=definition
        )
    with pytest.raises(BadGateway) as caught:
        await guard.call("bills", lambda: connector.bills(account=account), idempotent=True)
    assert caught.value.status == 502 and caught.value.code == code


def _broken(definition: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(definition)
    *parents, last = path.split(".")
    target = broken
    for name in parents:
        target = target[name]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return broken


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("base_url", None, "base_url"),
        ("base_url", "ftp://files.example/", "base_url"),
        ("operations.bills.method", "FETCH", "operations.bills.method"),
        ("operations.bills", None, "operations.bills"),
        (
            "operations.bills.response.fields.amount_fen",
            {"path": "amount", "unit": "usd"},
            "operations.bills.response.fields.amount_fen.unit",
        ),
        ("auth", {"type": "api_key"}, "auth.key"),
        ("surprise", True, "surprise"),
        ("test.operation", "refund", "test.operation"),
    ],
)
async def test_a_description_that_breaks_the_schema_is_refused_naming_the_field(
    api: Api, db: Database, path: str, value: Any, field: str
) -> None:
    city = await create_city(db)
    admin = await _admin(api, db, city)
    good = providers.water_definition("http://127.0.0.1:9")
    problem = await admin.post(
        f"/v1/cities/{city.slug}/connectors", json=_broken(good, path, value), expect=422
    )
    assert problem["field"] == field, problem


async def test_the_schema_is_published(api: Api) -> None:
    schema = json.loads(await api.get("/v1/connectors/schema"))
    assert schema["$id"].endswith("connector.schema.json")
    assert api.last is not None and api.last.headers["content-type"] == "application/schema+json"
    assert set(schema["properties"]["kind"]["enum"]) == {"biller", "records", "eligibility"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8100/api",
        "http://localhost/api",
        "http://[::1]/api",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/api",
        "http://192.168.0.10/api",
        "http://0.0.0.0/api",
    ],
)
async def test_internal_addresses_are_refused_unless_the_operator_allows_the_host(
    api: Api, db: Database, settings: Settings, url: str
) -> None:
    settings.connector_allow_hosts = ""
    city = await create_city(db)
    admin = await _admin(api, db, city)
    definition = {**providers.water_definition("http://x"), "base_url": url}
    problem = await admin.post(f"/v1/cities/{city.slug}/connectors", json=definition, expect=422)
    assert problem["code"] == "url_not_allowed" and problem["field"] == "base_url"
    host = url.split("/")[2]
    settings.connector_allow_hosts = f"example.org, {host}"
    await admin.post(f"/v1/cities/{city.slug}/connectors", json=definition, expect=201)
