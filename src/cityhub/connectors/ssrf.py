"""The guard against connectors that point inside the hub's own network (SSRF).

A city describes where its providers are. Without a guard, a connector file could make the hub
call its own admin ports, the cloud metadata service (169.254.169.254) or any private host.
A base URL is refused when its host is, or resolves to, a loopback, link-local, private,
reserved, multicast or unspecified address, unless the operator put the host (or host:port)
in `CITYHUB_CONNECTOR_ALLOW_HOSTS`. Connectors never follow redirects, so an allowed host
cannot bounce the hub elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

from cityhub.platform.errors import Unprocessable

_CACHE_SECONDS = 60.0
_checked: dict[tuple[str, frozenset[str]], float] = {}


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


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


async def check_url(url: str, *, allow: frozenset[str], field: str = "base_url") -> None:
    """Refuse (422, naming `field`) a URL whose host is internal and not allow-listed."""
    _scheme, host, port = split_url(url, field=field)
    shown = f"[{host}]" if ":" in host else host  # an IPv6 literal as written in URLs
    if {host, shown, f"{shown}:{port}"} & allow:
        return
    key = (f"{host}:{port}", allow)
    if _checked.get(key, 0.0) > time.monotonic():
        return
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError:
            raise Unprocessable(
                f"the host {host!r} does not resolve", code="url_unresolvable", field=field
            ) from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    bad = sorted({str(a) for a in addresses if _forbidden(a)})
    if bad:
        raise Unprocessable(
            f"{host} resolves to an internal address ({', '.join(bad)}); the operator must "
            "allow this host in CITYHUB_CONNECTOR_ALLOW_HOSTS",
            code="url_not_allowed",
            field=field,
        )
    _checked[key] = time.monotonic() + _CACHE_SECONDS
