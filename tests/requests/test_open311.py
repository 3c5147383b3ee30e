"""Open311 GeoReport v2: the `georeport` client from PyPI against a real server, JSON and
XML as the specification says, `api_key`s, errors in the specification's shape, the public
view with coarsened locations, and the mySociety updates extension."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest
from georeport import GeoReport

from cityhub.app import create_app
from cityhub.platform.config import Settings
from cityhub.simulators import serve_app_in_background
from tests.requests.factories import INSIDE, OUTSIDE, RequestWorld, key, stored


@pytest.fixture
def hub(settings: Settings, world: RequestWorld) -> Iterator[str]:
    """The hub over real HTTP, on the world's database."""
    running = serve_app_in_background(create_app(settings), port=0, lifespan="on")
    try:
        yield running.url
    finally:
        running.stop()


async def publish(world: RequestWorld) -> None:
    await world.admin.patch(world.url("/request-settings"), json={"publish_open": True})


async def api_key(world: RequestWorld) -> str:
    issued = await world.admin.post(
        world.url("/request-keys"), json={"channel": world.login.channel.slug}, headers=key()
    )
    return str(issued["api_key"])


def o311(world: RequestWorld, path: str) -> str:
    return f"/open311/v2/{world.city.slug}/{path}"


async def test_the_georeport_client_lists_services_and_reads_requests(
    world: RequestWorld, hub: str
) -> None:
    await publish(world)
    made = [(await world.report(description=f"lamp {i}"))["id"] for i in range(3)]
    for fmt in ("json", "xml"):
        client = GeoReport(
            f"{hub}/open311/v2/{world.city.slug}", jurisdiction=world.city.slug, output_format=fmt
        )
        services = await asyncio.to_thread(client.get_service_list)
        if fmt == "xml":
            services = [services] if isinstance(services, dict) else services
        assert [s["service_code"] for s in services] == ["streetlight"]
        assert services[0]["metadata"] in (True, "true")
        definition = await asyncio.to_thread(client.get_service_definition, "streetlight")
        attributes = definition["attributes"]
        if fmt == "xml":
            attributes = attributes["attribute"]
        assert [a["code"] for a in attributes] == ["kind", "pole", "count"]
        found = await asyncio.to_thread(client.get_service_requests)
        assert sorted(r["service_request_id"] for r in found) == sorted(made)
        one = await asyncio.to_thread(client.get_service_request, made[0])
        assert one["service_request_id"] == made[0] and one["status"] == "open"
        assert "description" not in one  # the public view carries no personal text


async def test_post_with_an_api_key_and_read_back_in_full(world: RequestWorld) -> None:
    secret = await api_key(world)
    await world.resident("u-9")
    client = world.api.client
    form = {
        "api_key": secret,
        "jurisdiction_id": world.city.slug,
        "service_code": "streetlight",
        "lat": str(INSIDE["lat"]),
        "long": str(INSIDE["lon"]),
        "description": "Dark corner",
        "attribute[kind]": "flicker",
        "account_id": "u-9",
        "email": "someone@example.org",
    }
    response = await client.post(o311(world, "requests.json"), data=form)
    assert response.status_code == 200, response.text
    [made] = response.json()
    rid = made["service_request_id"]
    assert made["token"] == rid
    token = (await client.get(o311(world, f"tokens/{rid}.json"))).json()
    assert token == [{"service_request_id": rid, "token": rid}]
    full = (
        await client.get(o311(world, f"requests/{rid}.json"), params={"api_key": secret})
    ).json()
    assert full[0]["description"] == "Dark corner" and full[0]["lat"] == INSIDE["lat"]
    assert full[0]["agency_responsible"]
    mine = (await world.channel.get(world.url("/requests"), params={"user_id": "u-9"}))["items"]
    assert [r["id"] for r in mine] == [rid]
    xml = await client.get(o311(world, "requests.xml"), params={"api_key": secret})
    root = ET.fromstring(xml.content)
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == rid
    assert xml.headers["content-type"].startswith("text/xml")


async def test_errors_name_the_field_in_the_specifications_shape_and_store_nothing(
    world: RequestWorld,
) -> None:
    secret = await api_key(world)
    client = world.api.client
    base = {
        "api_key": secret,
        "service_code": "streetlight",
        "description": "x",
        "lat": str(INSIDE["lat"]),
        "long": str(INSIDE["lon"]),
        "attribute[kind]": "off",
    }
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"api_key": "o311_wrong"}, 401, "api_key"),
        ({"attribute[kind]": "exploded"}, 422, "attributes.kind"),
        ({"lat": str(OUTSIDE["lat"]), "long": str(OUTSIDE["lon"])}, 422, "lat"),
        ({"service_code": "ufo"}, 404, "service_code"),
        ({"long": "east"}, 422, "long"),
    ]
    for change, status, field in cases:
        response = await client.post(o311(world, "requests.json"), data={**base, **change})
        assert response.status_code == status, (change, response.text)
        [error] = response.json()
        assert error["code"] == status and error["description"].startswith(field), error
    response = await client.post(
        o311(world, "requests.xml"), data={**base, "attribute[kind]": "exploded"}
    )
    assert response.status_code == 422
    assert ET.fromstring(response.content).findtext("error/code") == "422"
    window = await client.get(
        o311(world, "requests.json"),
        params={
            "api_key": secret,
            "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-06-01T00:00:00Z",
        },  # fmt: skip
    )
    assert window.status_code == 400 and "start_date" in window.json()[0]["description"]
    assert await stored(world) == (0, 0, 0, 0)


async def test_the_public_view_needs_publishing_and_coarsens_locations(
    world: RequestWorld,
) -> None:
    client = world.api.client
    await world.report()
    closed = await client.get(o311(world, "requests.json"))
    assert closed.status_code == 403
    await publish(world)
    # Three more within one cell near the first, and one alone in the city's east.
    for i in range(2):
        await world.report(lat=INSIDE["lat"] + 0.0002 * i, lon=INSIDE["lon"])
    lone = (await world.report(lat=31.0, lon=121.9))["id"]
    found = (await client.get(o311(world, "requests.json"))).json()
    by_id = {r["service_request_id"]: r for r in found}
    assert len(by_id) == 4
    lone_shown = by_id.pop(lone)
    assert lone_shown["lat"] is None and lone_shown["long"] is None  # no district, too few
    for shown in by_id.values():
        assert (shown["lat"], shown["long"]) == (31.235, 121.475)  # the cell's centre
        assert "description" not in shown and "address" not in shown
    assert INSIDE["lat"] not in [r["lat"] for r in found]
    # A filter cannot narrow a cell down to one request: coarsening counts the whole window.
    one = (await client.get(o311(world, f"requests/{next(iter(by_id))}.json"))).json()
    assert (one[0]["lat"], one[0]["long"]) == (31.235, 121.475)


async def test_discovery_and_request_updates(world: RequestWorld) -> None:
    client = world.api.client
    secret = await api_key(world)
    discovery = (await client.get(o311(world, "discovery.json"))).json()
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    rid = (await world.report())["id"]
    await world.step(rid, "triage", note="Crew on the way")
    await world.step(rid, "notes", note="secret", public=False)
    updates = (
        await client.get(o311(world, "servicerequestupdates.json"), params={"api_key": secret})
    ).json()
    assert [u["description"] for u in updates] == [None, "Crew on the way"]
    assert {u["service_request_id"] for u in updates} == {rid}
    xml = await client.get(o311(world, "servicerequestupdates.xml"), params={"api_key": secret})
    assert len(ET.fromstring(xml.content).findall("request_update")) == 2
    bad = await client.get(o311(world, "services.yaml"))
    assert bad.status_code == 404
