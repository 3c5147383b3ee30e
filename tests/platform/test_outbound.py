"""The SSRF guard: what counts as inside the hub's network, and connections that go to the
address that was checked (the Host header and TLS keep the name), so a name that answers a
public address to the check and a private one to the connection never reaches the private one.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from cityhub.cities.models import City
from cityhub.identity.models import Role
from cityhub.platform.config import Settings
from cityhub.platform.db import Database
from cityhub.platform.errors import Unprocessable
from cityhub.platform.outbound import (
    DestinationRefused,
    OutboundPolicy,
    check_url,
    is_internal,
    pinned_client,
)
from cityhub.simulators import RunningServer, serve_app_in_background
from tests.cities.factories import create_city
from tests.client import Api
from tests.connectors import providers
from tests.connectors.tls import make_pki
from tests.identity.factories import PASSWORD, create_staff
from tests.platform.dns import FakeDns, dns

__all__ = ["dns"]
PUBLIC = "8.8.8.8"  # answered to checks only: no test ever connects to it


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "0.0.0.0",
        "224.0.0.1",
        "192.0.2.10",  # documentation
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
def test_addresses_inside_any_network_are_internal(address: str) -> None:
    assert is_internal(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [PUBLIC, "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_not(address: str) -> None:
    assert not is_internal(ipaddress.ip_address(address))


def _echo() -> tuple[FastAPI, list[str]]:
    app, hosts = FastAPI(), []

    @app.get("/where")
    async def where(request: Request) -> dict[str, str]:
        hosts.append(request.headers["host"])
        return {"host": request.headers["host"]}

    return app, hosts


@pytest.fixture
def echo() -> Iterator[tuple[RunningServer, list[str]]]:
    app, hosts = _echo()
    running = serve_app_in_background(app)
    yield running, hosts
    running.stop()


async def test_a_connection_goes_to_the_checked_address_and_keeps_the_name(
    dns: FakeDns, echo: tuple[RunningServer, list[str]]
) -> None:
    server, hosts = echo
    dns.answer("pinned.test", ["127.0.0.1"])
    allowed = OutboundPolicy(frozenset({f"127.0.0.1:{server.port}"}))  # the address, not the name
    async with pinned_client(allowed) as client:
        answer = await client.get(f"http://pinned.test:{server.port}/where")
    assert answer.json() == {"host": f"pinned.test:{server.port}"}
    assert hosts == [f"pinned.test:{server.port}"] and dns.asked["pinned.test"] == 1
    async with pinned_client(OutboundPolicy()) as client:
        with pytest.raises(DestinationRefused, match="internal address"):
            await client.get(f"http://pinned.test:{server.port}/where")
    assert len(hosts) == 1  # the refused request never left the hub


async def test_tls_verifies_the_name_while_the_socket_goes_to_the_checked_address(
    dns: FakeDns, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path, names=("pinned.test",))
    app, hosts = _echo()
    server = serve_app_in_background(
        app, ssl_certfile=str(pki.server_cert), ssl_keyfile=str(pki.server_key)
    )
    try:
        dns.answer("pinned.test", ["127.0.0.1"])
        dns.answer("impostor.test", ["127.0.0.1"])
        trust = ssl.create_default_context(cafile=str(pki.ca))
        allowed = OutboundPolicy(frozenset({"127.0.0.1"}))
        async with pinned_client(allowed, verify=trust) as client:
            answer = await client.get(f"https://pinned.test:{server.port}/where")
            assert answer.json() == {"host": f"pinned.test:{server.port}"}
            # The same address under a name its certificate does not carry: refused by TLS,
            # which checks the name, not the address connected to.
            with pytest.raises(httpx.ConnectError, match="certificate"):
                await client.get(f"https://impostor.test:{server.port}/where")
        assert hosts == [f"pinned.test:{server.port}"]
    finally:
        server.stop()


async def test_a_url_is_checked_when_written_and_internal_names_are_refused(
    dns: FakeDns,
) -> None:
    dns.answer("intranet.test", ["10.0.0.7"])
    dns.answer("mixed.test", [PUBLIC, "192.168.0.3"])  # one bad address is enough
    for url in ("http://intranet.test/", "http://mixed.test/", "http://169.254.169.254/"):
        with pytest.raises(Unprocessable) as caught:
            await check_url(url, policy=OutboundPolicy(), field="webhook_url")
        assert (caught.value.field, caught.value.code) == ("webhook_url", "url_not_allowed"), url
    dns.answer("public.test", [PUBLIC])
    await check_url("https://public.test/hook", policy=OutboundPolicy(), field="webhook_url")
    await check_url("http://intranet.test/", policy=OutboundPolicy(frozenset({"intranet.test"})))


async def _admin(api: Api, db: Database, city: City) -> Api:
    staff = await create_staff(db, city=city, role=Role.CITY_ADMIN)
    return await api.as_staff(staff.username, PASSWORD)


async def test_a_name_that_turns_private_after_the_check_never_reaches_the_private_address(
    api: Api, db: Database, settings: Settings, dns: FakeDns
) -> None:
    app, seen = providers.water_api()
    server = serve_app_in_background(app)
    try:
        settings.connector_allow_hosts = ""  # nothing internal is allowed
        dns.answer("rebind.test", [PUBLIC], ["127.0.0.1"])  # public to the check, then private
        city = await create_city(db)
        admin = await _admin(api, db, city)
        definition = providers.water_definition(f"http://rebind.test:{server.port}")
        await admin.post(f"/v1/cities/{city.slug}/connectors", json=definition, expect=201)
        assert dns.asked["rebind.test"] == 1  # the check when it was written
        tried = await admin.post(
            f"/v1/cities/{city.slug}/connectors/pudong-water/test", json={}, expect=200
        )
        assert not tried["ok"] and tried["error"]["code"] == "connector_misconfigured"
        assert "127.0.0.1" in tried["error"]["detail"]
        assert seen.requests == []  # the provider on the private address heard nothing
        assert dns.asked["rebind.test"] == 2  # resolved once more, for the connection only
    finally:
        server.stop()
