"""Requests to addresses that someone other than the operator chose: a connector's base URL, a
channel's webhook URL. The guard against server-side request forgery (SSRF).

Without it, a city admin could make the hub call its own admin ports, the cloud metadata
service (169.254.169.254) or any host of the private network, and a channel could make the hub
post webhooks there. A destination is refused when its host is, or resolves to, an address
that is not globally routable (loopback, link-local, private, shared, reserved, documentation,
multicast, unspecified; IPv6 forms that embed such an IPv4 address count as that address),
unless the operator lists the host, or the address, in `CITYHUB_CONNECTOR_ALLOW_HOSTS`
(`name`, `name:port`, `10.0.0.5` or `10.0.0.5:8443`).

The check is made where the connection is made. A name is resolved once per connection, every
address it gives is checked, and the connection goes to a checked address: the transport
(`pinned_client`) connects to the IP it checked while the request keeps the name in its Host
header and TLS keeps it for SNI and for verifying the certificate. A name that answers a
public address to the check and a private one to the connection (DNS rebinding) has no second
answer to give. `check_url` runs the same rule when a URL is written, to refuse it with a 422
naming the field; the connection is still checked every time.

The operator's own endpoints (`CITYHUB_SIMULATOR_URL`, `CITYHUB_SMS_URL`) are not reached
through this guard.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from cityhub.platform.config import Settings
from cityhub.platform.errors import Unprocessable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefused(Exception):
    """The destination is inside the hub's own network (or does not resolve)."""

    def __init__(self, message: str, *, code: str = "url_not_allowed") -> None:
        super().__init__(message)
        self.code = code


def embedded_ipv4(address: Address) -> Address:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_internal(address: Address) -> bool:
    """Whether an address is not one of the public internet's (so refused unless allowed)."""
    inner = embedded_ipv4(address)
    return any(not a.is_global or a.is_multicast for a in {address, inner})


def split_url(url: str, *, field: str = "base_url") -> tuple[str, str, int]:
    """Scheme, host and port of an http(s) URL, or Unprocessable naming `field`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Unprocessable(
            f"{url!r} is not a valid URL", code="invalid_url", field=field
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable(
            f"{url!r} must be an http:// or https:// URL with a host",
            code="invalid_url",
            field=field,
        )
    if parts.username or parts.password:
        raise Unprocessable(
            "put credentials in the auth section, not in the URL", code="invalid_url", field=field
        )
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def _written(host: str, port: int) -> set[str]:
    """How an allow-list may name a host: `host`, `host:port`, IPv6 in brackets or not."""
    bare = host.strip("[]").lower()
    shown = f"[{bare}]" if ":" in bare else bare
    return {bare, shown, f"{shown}:{port}"}


class OutboundPolicy:
    """Which internal destinations the operator allows; everything public is allowed."""

    def __init__(self, allow: frozenset[str] | Callable[[], frozenset[str]] = frozenset()) -> None:
        self._allow = allow

    @property
    def allow(self) -> frozenset[str]:
        """The allow-list in force now."""
        return self._allow() if callable(self._allow) else self._allow

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboundPolicy:
        """The policy of `CITYHUB_CONNECTOR_ALLOW_HOSTS` (read from the settings at each use)."""
        return cls(lambda: settings.connector_allowed_hosts)

    def trusts_name(self, host: str, port: int) -> bool:
        """Whether the operator allowed this host by name (its addresses are not checked)."""
        return bool(_written(host, port) & self.allow)

    def refusal(self, address: Address, port: int) -> bool:
        """Whether connecting to this address and port is refused."""
        return is_internal(address) and not (_written(str(address), port) & self.allow)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses a connection to `host` may use, resolved once and every one checked;
        DestinationRefused when any is internal and not allowed, or none resolves."""
        bare = host.strip("[]")
        try:
            resolved: list[Address] = [ipaddress.ip_address(bare)]
        except ValueError:
            resolved = await _resolve(bare, port)
        bad = sorted({str(a) for a in resolved if self.refusal(a, port)})
        if bad:
            raise DestinationRefused(
                f"{host} resolves to an internal address ({', '.join(bad)}); the operator must "
                "allow this host in CITYHUB_CONNECTOR_ALLOW_HOSTS"
            )
        return list(dict.fromkeys(str(a) for a in resolved))


async def _resolve(host: str, port: int) -> list[Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise DestinationRefused(
            f"the host {host!r} does not resolve", code="url_unresolvable"
        ) from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise DestinationRefused(f"the host {host!r} does not resolve", code="url_unresolvable")
    return found


async def check_url(url: str, *, policy: OutboundPolicy, field: str = "base_url") -> None:
    """Refuse (422, naming `field`) a URL whose host is internal and not allowed: what is
    checked when a URL is written (connections are checked again, each time)."""
    _scheme, host, port = split_url(url, field=field)
    if policy.trusts_name(host, port):
        return
    try:
        await policy.addresses(host, port)
    except DestinationRefused as exc:
        raise Unprocessable(str(exc), code=exc.code, field=field) from None


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy checked."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """A connection to one of the host's checked addresses (in the order resolved)."""
        if self.policy.trusts_name(host, port):
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        failure: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses() never answers an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("unix sockets are not a destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a pool whose connections go through `PinnedBackend`. The URL,
    Host header, TLS server name and certificate check keep the name; only the socket is
    opened to the checked address."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=200, max_keepalive_connections=50),
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        # httpx builds its own pool without a way to pass a network backend: replace it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(policy),
        )


def pinned_client(
    policy: OutboundPolicy, *, verify: ssl.SSLContext | bool = True, timeout: float = 60.0
) -> httpx.AsyncClient:
    """An HTTP client for destinations others chose: checked and pinned at every connection,
    no redirects followed, no proxy taken from the environment."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy, verify=verify),
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )
