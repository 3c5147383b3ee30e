"""A resolver the tests control: names they declare answer what the test says, in turn (the
last answer repeats); every other name goes to the machine's own resolver.

It replaces `socket.getaddrinfo`, which every resolution in the process goes through (the
event loop's `getaddrinfo`, and so httpx, httpcore and anyio), so the hub's code is tested as
it runs, with no hook of its own. Only addresses on this machine are ever connected to: a
public address a test declares is answered to a check, never used for a connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections import Counter
from typing import Any

import pytest


class FakeDns:
    """Declared names and their successive answers; `asked` counts the look-ups per name."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.asked: Counter[str] = Counter()
        self._lock = threading.Lock()
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else str(host)
            with self._lock:
                queue = self.answers.get(name.lower())
                if queue is None:
                    return real(host, port, *args, **kwargs)
                self.asked[name.lower()] += 1
                addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            number = int(port) if port else 0
            return [_info(address, number) for address in addresses]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *answers: list[str]) -> None:
        """`name` resolves to each answer in turn, the last one from then on."""
        with self._lock:
            self.answers[name.lower()] = [list(a) for a in answers]


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """The test's own resolver (see the module)."""
    return FakeDns(monkeypatch)
