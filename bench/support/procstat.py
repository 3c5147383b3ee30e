"""CPU time from /proc: of a process and its descendants (the hub), and of the PostgreSQL
backends that serve one database (found by their process title, on a server on this machine)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and every live descendant (`--workers` children)."""
    stats = {pid: s for pid in _pids() if (s := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1]
            todo.extend(children.get(pid, []))
    return total


def backends(database: str) -> dict[int, float]:
    """CPU seconds so far of each local PostgreSQL backend connected to `database`."""
    found = {}
    marker = f" {database} ".encode()
    for pid in _pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        # A backend's title: "postgres: <user> <database> <host>(<port>) <state>".
        if title.startswith(b"postgres: ") and marker in title.replace(b"\0", b" "):
            stat = _stat(pid)
            if stat is not None:
                found[pid] = stat[1]
    return found


class ServerCpu:
    """CPU seconds the backends of one database spend while the block runs, sampled every
    0.2 s (a backend that ends between two samples loses at most its last 0.2 s)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.seconds = 0.0
        self.seen = False
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ServerCpu:
        self._start = backends(self.database)
        self._last = dict(self._start)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._last.update(backends(self.database))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._last.update(backends(self.database))
        self.seen = bool(self._last)
        self.seconds = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())
